import Foundation
import Synchronization

/// Set by SIGINT/SIGTERM once ``installStopHandlers()`` ran: the long commands (train, evaluate,
/// study run) finish the current batch, save their progress and stop. A second signal exits at once.
let stopRequested = Atomic<Bool>(false)

/// Whether a stop was asked for (the `shouldStop` every long command polls).
func isStopRequested() -> Bool { stopRequested.load(ordering: .relaxed) }

/// Routes SIGINT and SIGTERM to ``stopRequested``.
func installStopHandlers() {
    // A parent may have spawned us with these signals blocked (the mask is inherited): unblock them.
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGINT)
    sigaddset(&unblock, SIGTERM)
    sigprocmask(SIG_UNBLOCK, &unblock, nil)
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber) { number in
            if stopRequested.exchange(true, ordering: .relaxed) { _exit(128 + number) }
        }
    }
}

/// This executable, for the commands that start copies of the tool (`launch`, `bench`, `study run
/// --jobs`): the binary behind /proc/self/exe, else the one Foundation reports.
var ownExecutable: URL {
    let link = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    if FileManager.default.isExecutableFile(atPath: link.path) { return link }
    return Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
}
