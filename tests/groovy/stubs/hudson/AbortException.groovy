// Test stub with the real fully-qualified name of Jenkins' hudson.AbortException
// (what `sh` and `withCredentials` throw for ordinary step failures, e.g. a
// missing credentials id). Found by the harness through `groovy -cp stubs`.
package hudson

class AbortException extends IOException {
    AbortException(String message) {
        super(message)
    }
}
