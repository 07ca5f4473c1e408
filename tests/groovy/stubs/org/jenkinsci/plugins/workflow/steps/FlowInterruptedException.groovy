// Test stub with the real fully-qualified name of the exception Jenkins throws
// when a build is aborted (stop button, `timeout` step). As in Jenkins
// (workflow-step-api), it extends InterruptedException, which is what
// vars/trelloNotify.groovy catches and rethrows: the step itself needs no
// Jenkins class on its compile classpath. Found by the harness through
// `groovy -cp stubs`.
package org.jenkinsci.plugins.workflow.steps

class FlowInterruptedException extends InterruptedException {
    FlowInterruptedException(String message) {
        super(message)
    }
}
