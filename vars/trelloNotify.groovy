// trelloNotify: keep the team's Trello board true for this job.
//
// Usage (this repository doubles as a Jenkins shared library):
//
//   @Library('jenkins-trello') _
//   pipeline {
//     agent any
//     ...
//     post { always { trelloNotify(board: 'AbCdEf12', list: 'Broken builds') } }
//   }
//
// or, with the team's policy file (routes, labels, members, card text) in the
// repository: trelloNotify(config: 'ci/trello.yml')
//
// It runs `jenkins-trello notify --result <currentBuild.currentResult>` once,
// with the Trello and Jenkins secrets bound by withCredentials. The job name,
// build number and build URL reach the CLI through Jenkins' own JOB_NAME,
// BUILD_NUMBER and BUILD_URL environment variables.
//
// Safety rules this step keeps (tests/test_groovy.py proves them):
//  * No secret and no user-supplied value is interpolated by Groovy into the
//    shell command line: everything travels in environment variables and the
//    script is a constant (single-quoted) string that the shell expands. No
//    secret in `ps` output, no "insecure interpolation" warning, and no shell
//    injection from a job, branch, board or list name.
//  * It never changes the build's result: the notifier runs with
//    returnStatus: true, failures are echoed as one line, and any exception
//    (a missing credentials id, no node context, ...) is echoed and
//    swallowed. Only an abort (FlowInterruptedException, a subclass of
//    InterruptedException: the user pressed the stop button, a `timeout`
//    fired) is rethrown, so that aborting a build still works.
//  * It returns the notifier's exit status (0 done, 1 a service failed,
//    2 configuration problem), or -1 when the notifier could not be run.
//
// Written for the Groovy 2.4 line and the CPS interpreter: no closures handed
// to non-CPS methods, plain loops, no steps inside loops.

def call(Map args = [:]) {
    Map opts = (args == null) ? [:] : args

    List<String> known = ['board', 'list', 'doneList', 'apiUrl', 'jenkinsUrl',
                          'trelloCredentialsId', 'trelloTokenCredentialsId', 'jenkinsCredentialsId',
                          'result', 'command', 'dryRun', 'config']
    List<String> unknown = []
    for (Object key : opts.keySet()) {
        if (!known.contains(String.valueOf(key))) {
            unknown.add(String.valueOf(key))
        }
    }
    if (!unknown.isEmpty()) {
        echo('trelloNotify: ignoring unknown option(s): ' + unknown.join(', '))
    }

    int status = -1
    try {
        String result = opts.result ? String.valueOf(opts.result) : String.valueOf(currentBuild.currentResult)
        String command = opts.command ? String.valueOf(opts.command) : 'jenkins-trello'

        String keyId = credentialsIdOption(opts, 'trelloCredentialsId', 'trello-api-key')
        String tokenId = credentialsIdOption(opts, 'trelloTokenCredentialsId', 'trello-token')
        String jenkinsId = credentialsIdOption(opts, 'jenkinsCredentialsId', 'jenkins-api-token')

        List bindings = []
        if (keyId) {
            bindings.add(string(credentialsId: keyId, variable: 'TRELLO_API_KEY'))
        }
        if (tokenId) {
            bindings.add(string(credentialsId: tokenId, variable: 'TRELLO_TOKEN'))
        }
        if (jenkinsId) {
            bindings.add(usernamePassword(credentialsId: jenkinsId,
                                          usernameVariable: 'JENKINS_USER',
                                          passwordVariable: 'JENKINS_API_TOKEN'))
        }

        // Non-secret settings. Values go into the environment, never into the
        // command line; a setting that is not given is left alone so that the
        // agent's or the pipeline's own environment (e.g. TRELLO_BOARD) applies.
        List<String> envVars = ['TRELLO_NOTIFY_CMD=' + command, 'TRELLO_NOTIFY_RESULT=' + result]
        addSetting(envVars, 'TRELLO_BOARD', opts.board)
        addSetting(envVars, 'TRELLO_LIST', opts.list)
        addSetting(envVars, 'TRELLO_DONE_LIST', opts.doneList)
        addSetting(envVars, 'TRELLO_API_URL', opts.apiUrl)
        addSetting(envVars, 'JENKINS_URL', opts.jenkinsUrl)
        // The policy file: a path relative to the workspace (sh runs there) or
        // absolute on the agent. Like every value it travels in the environment.
        addSetting(envVars, 'TRELLO_NOTIFY_CONFIG', opts.config)

        // A constant script: the shell expands the variables. TRELLO_NOTIFY_CMD
        // is left unquoted on purpose so that a command such as
        // 'python3 -m jenkins_trello' or '.venv/bin/jenkins-trello' works; the
        // shell splits it into words but never parses it as shell code, and
        // `set -f` turns off globbing of those words.
        String script = 'set -f; $TRELLO_NOTIFY_CMD notify --result "$TRELLO_NOTIFY_RESULT"'
        if (opts.config != null && String.valueOf(opts.config) != '') {
            script += ' --config "$TRELLO_NOTIFY_CONFIG"'
        }
        // true, or 'true' (e.g. from a string build parameter); 'false' is false.
        if (String.valueOf(opts.dryRun).trim().equalsIgnoreCase('true')) {
            script += ' --dry-run'
        }

        withCredentials(bindings) {
            withEnv(envVars) {
                status = (int) sh(script: script, returnStatus: true)
            }
        }

        if (status != 0) {
            echo('trelloNotify: notifier failed (' + describeStatus(status) + '); build result unchanged')
        }
    } catch (InterruptedException aborted) {
        // FlowInterruptedException (org.jenkinsci.plugins.workflow.steps) extends
        // InterruptedException: the build is being aborted; let it.
        throw aborted
    } catch (Exception problem) {
        String message = String.valueOf(problem).replaceAll('\\s+', ' ').trim()
        echo('trelloNotify: could not run the notifier: ' + message + '; build result unchanged')
        status = -1
    }
    return status
}

// The credentials id for an option: the default when the option is absent,
// none (skip the binding) when it is explicitly null or ''.
String credentialsIdOption(Map opts, String name, String defaultId) {
    if (!opts.containsKey(name)) {
        return defaultId
    }
    Object value = opts.get(name)
    return value ? String.valueOf(value) : null
}

void addSetting(List<String> envVars, String name, Object value) {
    if (value != null && String.valueOf(value) != '') {
        envVars.add(name + '=' + String.valueOf(value))
    }
}

String describeStatus(int status) {
    if (status == 1) {
        return 'exit 1: a service failed'
    }
    if (status == 2) {
        return 'exit 2: configuration problem'
    }
    if (status == 127) {
        return 'exit 127: command not found; is jenkins-trello installed on this agent?'
    }
    return 'exit ' + status
}
