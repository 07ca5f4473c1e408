// Harness for tests/test_groovy.py: runs vars/trelloNotify.groovy and the
// post blocks of Jenkinsfile.example against stubbed pipeline steps, in one
// JVM, and prints one JSON line per scenario ("SCENARIO {...}").
//
//   JAVA_HOME=... groovy -cp tests/groovy/stubs tests/groovy/harness.groovy <repo root>
//
// Plain Groovy 2.4. The stubs live in the Binding of the script under test:
// an unresolved method call in a Script (or in a closure whose owner is that
// Script) falls back to a Closure of that name in the binding, which is how
// Jenkins' steps are stubbed here (the JenkinsPipelineUnit technique, without
// the library). Exceptions with Jenkins' fully-qualified names
// (hudson.AbortException, org.jenkinsci.plugins.workflow.steps.FlowInterruptedException)
// are small .groovy sources under tests/groovy/stubs/, compiled on demand
// from the -cp class path.
//
// The harness records facts; the assertions live in tests/test_groovy.py.

import groovy.json.JsonOutput
import hudson.AbortException
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

File root = new File(args.length > 0 ? args[0] : '.').canonicalFile
File stepFile = new File(root, 'vars/trelloNotify.groovy')
File jenkinsfile = new File(root, 'Jenkinsfile.example')

// Fake secret values that withCredentials binds, by variable name.
Map<String, String> SECRETS = [
    TRELLO_API_KEY   : 's3cr3t-trello-key-XYZ',
    TRELLO_TOKEN     : 's3cr3t-trello-token-XYZ',
    JENKINS_USER     : 'ci-bot-user-XYZ',
    JENKINS_API_TOKEN: 's3cr3t-jenkins-token-XYZ',
]

// Jenkins' own variables, with hostile values a folder/multibranch job can have.
Map<String, String> BASE_ENV = [
    JOB_NAME    : 'team/app"; rm -rf / #/feature%2Fx',
    BUILD_NUMBER: '42',
    BUILD_URL   : 'https://ci.example.com/job/team/job/app%22%3B/job/feature%252Fx/42/',
    JENKINS_URL : 'https://ci.example.com/',
]

class CurrentBuildStub {
    private String current
    private String raw
    List<String> setAttempts = []
    int resultReads = 0

    CurrentBuildStub(String current, String raw) {
        this.current = current
        this.raw = raw
    }

    String getCurrentResult() { current }

    void setCurrentResult(String value) { setAttempts.add('currentResult=' + value) }

    String getResult() {
        resultReads++
        raw
    }

    void setResult(String value) { setAttempts.add('result=' + value) }
}

// One pipeline "world": the step stubs and what they recorded.
class World {
    Map<String, String> secrets
    Map<String, String> env
    CurrentBuildStub currentBuild
    Map cfg
    List<Map> shCalls = []
    List<String> echoes = []
    List<Map> credentialRequests = []
    List<List<String>> withEnvCalls = []
    List<String> errors = []
    List<Map> junitCalls = []
    List<String> events = []

    World(Map<String, String> secrets, Map<String, String> baseEnv, Map cfg) {
        this.secrets = secrets
        this.cfg = cfg
        this.env = new LinkedHashMap<String, String>(baseEnv)
        if (cfg.env) {
            this.env.putAll(cfg.env as Map)
        }
        this.currentBuild = new CurrentBuildStub(
            (cfg.containsKey('currentResult') ? cfg.currentResult : 'FAILURE') as String,
            cfg.rawResult as String)
    }

    // Runs body with the given variables set in env, then restores env.
    Object withVars(Map<String, String> vars, Closure body) {
        Map<String, String> saved = new LinkedHashMap<String, String>(env)
        env.putAll(vars)
        try {
            return body.call()
        } finally {
            env.clear()
            env.putAll(saved)
        }
    }

    Binding binding() {
        World w = this
        Binding b = new Binding()
        b.setVariable('env', env)
        b.setVariable('currentBuild', currentBuild)
        b.setVariable('echo', { Object msg -> w.echoes.add(String.valueOf(msg)); null })
        b.setVariable('error', { Object msg ->
            w.errors.add(String.valueOf(msg))
            throw new AbortException(String.valueOf(msg))
        })
        b.setVariable('string', { Map m -> [type: 'string'] + m })
        b.setVariable('usernamePassword', { Map m -> [type: 'usernamePassword'] + m })
        b.setVariable('withCredentials', { List bindings, Closure body ->
            Map<String, String> vars = [:]
            for (Object o : bindings) {
                Map m = (Map) o
                w.credentialRequests.add(new LinkedHashMap(m))
                if (w.cfg.missingCredential != null && m.credentialsId == w.cfg.missingCredential) {
                    throw new AbortException("Could not find credentials entry with ID '${m.credentialsId}'")
                }
                if (m.type == 'string') {
                    vars[(String) m.variable] = w.secretFor((String) m.variable)
                } else if (m.type == 'usernamePassword') {
                    vars[(String) m.usernameVariable] = w.secretFor((String) m.usernameVariable)
                    vars[(String) m.passwordVariable] = w.secretFor((String) m.passwordVariable)
                } else {
                    throw new IllegalArgumentException('unknown binding ' + m)
                }
            }
            w.events.add('withCredentials')
            return w.withVars(vars, body)
        })
        b.setVariable('withEnv', { List vars, Closure body ->
            List<String> strings = []
            Map<String, String> parsed = [:]
            for (Object o : vars) {
                String s = String.valueOf(o)  // a GString becomes its value, as in Jenkins
                strings.add(s)
                int eq = s.indexOf('=')
                parsed[s.substring(0, eq)] = s.substring(eq + 1)
            }
            w.withEnvCalls.add(strings)
            w.events.add('withEnv')
            return w.withVars(parsed, body)
        })
        b.setVariable('sh', { Object arg ->
            Map m = (arg instanceof Map) ? (Map) arg : [script: arg]
            w.shCalls.add([
                script         : String.valueOf(m.script),
                scriptIsGString: m.script instanceof GString,
                returnStatus   : m.returnStatus,
                options        : m.keySet().collect { String.valueOf(it) }.sort(),
                env            : new LinkedHashMap<String, String>(w.env),
            ])
            w.events.add('sh')
            if (w.cfg.shThrow != null) {
                throw (Throwable) w.cfg.shThrow
            }
            int status = (w.cfg.shStatus ?: 0) as int
            if (m.returnStatus) {
                return status
            }
            if (status != 0) {
                throw new AbortException('script returned exit code ' + status)
            }
            return null
        })
        return b
    }

    String secretFor(String variable) {
        return secrets.containsKey(variable) ? secrets[variable] : 's3cr3t-' + variable + '-XYZ'
    }

    Map facts() {
        return [
            shCalls           : shCalls,
            echoes            : echoes,
            credentialRequests: credentialRequests,
            withEnvCalls      : withEnvCalls,
            errors            : errors,
            junitCalls        : junitCalls,
            events            : events,
            resultSetAttempts : currentBuild.setAttempts,
            resultReads       : currentBuild.resultReads,
            envAfter          : env,
        ]
    }
}

// The declarative DSL, just enough to load Jenkinsfile.example: blocks run
// their closures, except `steps`, which are recorded, and post conditions,
// which are kept (by the level they belong to) for the harness to run.
Map dslBinding(World w, Map captured) {
    Binding b = w.binding()
    List<String> stack = []
    Closure run = { String level, Closure body ->
        stack.add(level)
        try {
            body.call()
        } finally {
            stack.remove(stack.size() - 1)
        }
    }
    b.setVariable('any', 'any')
    b.setVariable('pipeline', { Closure c -> run('pipeline', c) })
    b.setVariable('agent', { Object a -> captured.agent = String.valueOf(a) })
    b.setVariable('options', { Closure c -> run('options', c) })
    b.setVariable('timestamps', { -> captured.timestamps = true })
    b.setVariable('logRotator', { Map m -> [logRotator: m] })
    b.setVariable('buildDiscarder', { Object o -> captured.buildDiscarder = o })
    b.setVariable('disableConcurrentBuilds', { -> captured.disableConcurrentBuilds = true })
    b.setVariable('stages', { Closure c -> run('stages', c) })
    b.setVariable('stage', { String name, Closure c ->
        ((List) captured.stages).add(name)
        run('stage:' + name, c)
    })
    b.setVariable('steps', { Closure c -> ((Map) captured.steps)[stack.last()] = c })
    b.setVariable('post', { Closure c ->
        String owner = stack.last()
        ((Map) captured.posts)[owner] = [:]
        run('post:' + owner, c)
    })
    for (String condition : ['always', 'success', 'failure', 'unstable', 'aborted', 'fixed',
                              'regression', 'changed', 'unsuccessful', 'cleanup']) {
        String cond = condition
        b.setVariable(cond, { Closure c ->
            String level = stack.last()
            if (!level.startsWith('post:')) {
                throw new IllegalStateException(cond + ' outside post, in ' + level)
            }
            ((Map) ((Map) captured.posts)[level.substring(5)])[cond] = c
        })
    }
    b.setVariable('script', { Closure c -> c.call() })
    b.setVariable('junit', { Map m -> w.junitCalls.add(new LinkedHashMap(m)); null })
    return [binding: b]
}

Map runStep(File stepFile, Map<String, String> secrets, Map<String, String> baseEnv, Map cfg, Object callArgs) {
    World w = new World(secrets, baseEnv, cfg)
    GroovyShell shell = new GroovyShell(this.class.classLoader, w.binding())
    Script step = shell.parse(stepFile)
    Map out = [:]
    try {
        Object ret = (callArgs == null) ? step.invokeMethod('call', [] as Object[])
                                        : step.invokeMethod('call', [callArgs] as Object[])
        out.returned = ret
        out.returnedClass = ret == null ? null : ret.getClass().name
    } catch (Throwable t) {
        out.thrown = t.getClass().name
        out.thrownMessage = t.message
    }
    out.putAll(w.facts())
    return out
}

Map runJenkinsfile(File jenkinsfile, Map<String, String> secrets, Map<String, String> baseEnv, Map cfg) {
    World w = new World(secrets, baseEnv, cfg)
    Map captured = [stages: [], steps: [:], posts: [:]]
    Binding b = (Binding) dslBinding(w, captured).binding
    Script script = new GroovyShell(this.class.classLoader, b).parse(jenkinsfile)
    script.run()
    Map out = [
        agent          : captured.agent,
        timestamps     : captured.timestamps == true,
        stages         : captured.stages,
        stepsLevels    : ((Map) captured.steps).keySet().collect { String.valueOf(it) },
        postLevels     : ((Map) captured.posts).collectEntries { k, v -> [(k): ((Map) v).keySet().collect { String.valueOf(it) }] },
    ]
    // Stage-level post (junit) first, as Jenkins does, then the pipeline's post.
    for (Object level : ((Map) captured.posts).keySet()) {
        if (level != 'pipeline') {
            Closure c = (Closure) ((Map) ((Map) captured.posts)[level]).always
            if (c != null) {
                c.call()
            }
        }
    }
    Closure topAlways = (Closure) ((Map) ((Map) captured.posts).pipeline)?.always
    if (topAlways == null) {
        out.thrown = 'no post { always { } } at pipeline level'
    } else {
        try {
            topAlways.call()
        } catch (Throwable t) {
            out.thrown = t.getClass().name
            out.thrownMessage = t.message
        }
    }
    out.putAll(w.facts())
    return out
}

void emit(String name, Closure body) {
    Map out
    try {
        out = (Map) body.call()
    } catch (Throwable t) {
        StringWriter sw = new StringWriter()
        t.printStackTrace(new PrintWriter(sw))
        out = [harnessError: t.toString(), stack: sw.toString()]
    }
    out.scenario = name
    println('SCENARIO ' + JsonOutput.toJson(out))
}

String HOSTILE_RESULT = 'FAILURE"; touch pwned-by-result; echo "'

println('SCENARIO ' + JsonOutput.toJson([scenario: '_meta', secrets: SECRETS, baseEnv: BASE_ENV,
                                          groovyVersion: GroovySystem.version]))

// 1. default call
emit('default') { runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE', rawResult: null], null) }
emit('default_empty_map') { runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE', rawResult: null], [:]) }
emit('unstable') { runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'UNSTABLE', rawResult: null], null) }
emit('success_raw_null') { runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'SUCCESS', rawResult: null], null) }

// 2. options
emit('options') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [
        board                   : 'AbCdEf12',
        list                    : 'Broken builds',
        doneList                : 'Shipped',
        apiUrl                  : 'http://127.0.0.1:9999/1',
        jenkinsUrl              : 'http://jenkins.internal:8080/',
        command                 : '.venv/bin/jenkins-trello',
        dryRun                  : true,
        trelloCredentialsId     : 'team-trello-key',
        trelloTokenCredentialsId: 'team-trello-token',
        jenkinsCredentialsId    : 'team-jenkins',
    ])
}
emit('anonymous_null') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [jenkinsCredentialsId: null])
}
emit('anonymous_empty') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [jenkinsCredentialsId: ''])
}
emit('no_trello_bindings') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'],
            [trelloCredentialsId: null, trelloTokenCredentialsId: ''])
}
emit('dry_run_false') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [dryRun: false])
}
emit('dry_run_string_false') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [dryRun: 'false'])
}
emit('dry_run_string_true') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [dryRun: 'true'])
}
emit('hostile_values') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [
        result : HOSTILE_RESULT,
        board  : 'b$(touch pwned-by-board)`touch pwned-by-tick`',
        list   : "it's; touch pwned-by-list",
        command: 'fake-notifier --first *',
    ])
}
emit('config_relative') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [config: 'ci/trello.yml', dryRun: true])
}
emit('config_absolute') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'UNSTABLE'], [config: '/etc/jenkins-trello/team.yml'])
}
emit('config_empty') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [config: ''])
}
emit('config_hostile') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'],
            [config: 'ci/a b;touch pwned-by-config $(touch pwned-by-subst)*.yml'])
}
emit('unknown_option') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE'], [borad: 'AbCdEf12'])
}

// 3. notifier fails
for (int code : [1, 2, 127, 3]) {
    int c = code
    emit('exit_' + c) { runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE', shStatus: c], null) }
}

// 4. exceptions
emit('sh_abort_exception') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE',
        shThrow: new AbortException('Required context class hudson.FilePath is missing\nPerhaps you forgot a node?')], null)
}
emit('sh_runtime_exception') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE', shThrow: new IllegalStateException('boom')], null)
}
emit('missing_credentials') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE', missingCredential: 'trello-token'], null)
}
emit('flow_interrupted') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE',
        shThrow: new FlowInterruptedException('aborted by user')], null)
}
emit('interrupted') {
    runStep(stepFile, SECRETS, BASE_ENV, [currentResult: 'FAILURE', shThrow: new InterruptedException('interrupted')], null)
}

// 6. Jenkinsfile.example
emit('jenkinsfile_exit_1') {
    runJenkinsfile(jenkinsfile, SECRETS, BASE_ENV, [currentResult: 'UNSTABLE', rawResult: null, shStatus: 1])
}
emit('jenkinsfile_exit_0') {
    runJenkinsfile(jenkinsfile, SECRETS, BASE_ENV, [currentResult: 'SUCCESS', rawResult: null, shStatus: 0])
}
emit('jenkinsfile_missing_credentials') {
    runJenkinsfile(jenkinsfile, SECRETS, BASE_ENV, [currentResult: 'FAILURE', missingCredential: 'trello-api-key'])
}
emit('jenkinsfile_sh_throws') {
    runJenkinsfile(jenkinsfile, SECRETS, BASE_ENV, [currentResult: 'FAILURE',
        shThrow: new AbortException('Required context class hudson.FilePath is missing')])
}
emit('jenkinsfile_flow_interrupted') {
    runJenkinsfile(jenkinsfile, SECRETS, BASE_ENV, [currentResult: 'FAILURE',
        shThrow: new FlowInterruptedException('aborted by user')])
}
