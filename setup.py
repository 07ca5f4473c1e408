from setuptools import find_packages, setup

setup(
    name="jenkins-trello",
    version="0.1.0",
    description="Keep a Trello board true for broken Jenkins builds and firing Grafana/Alertmanager alerts",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["jenkins_trello", "jenkins_trello.*", "grafana_bridge", "grafana_bridge.*"]),
    install_requires=[
        "python-jenkins>=1.8",
        "requests>=2.28",
        "tenacity>=8.3",
        "waitress>=2.1",
        "PyYAML>=6",
        "Jinja2>=3.1",
        "prometheus_client>=0.17",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "requests-mock>=1.11",
            "hypothesis>=6.80",
            "ruff>=0.5",
            "gunicorn>=21",
        ],
    },
    entry_points={
        "console_scripts": [
            "jenkins-trello=jenkins_trello.cli:main",
            "grafana-bridge=grafana_bridge.cli:main",
        ],
    },
)
