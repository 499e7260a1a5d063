import EDLCMTraining
import Foundation

/// Shows training progress: a live bar on a terminal, plain log lines otherwise (both on stderr).
final class ProgressDisplay {
    let isTerminal = isatty(STDERR_FILENO) == 1
    let runPath: String
    let quiet: Bool
    private var lastLogged = Date.distantPast
    private var epochStart = Date()

    init(runPath: String, quiet: Bool = false) {
        self.runPath = runPath
        self.quiet = quiet
    }

    func handle(_ event: TrainingEvent) {
        guard !quiet else { return }
        switch event {
        case let .batch(epoch, epochs, batch, batches, loss, accuracy, imagesPerSecond):
            if batch == 1 { epochStart = Date() }
            let elapsed = Date().timeIntervalSince(epochStart)
            let eta = elapsed / Double(batch) * Double(batches - batch)
            let status = String(
                format: "loss %.4f  acc %5.1f%%  %6.0f img/s  ETA %@", loss, accuracy * 100, imagesPerSecond, duration(eta))
            if isTerminal {
                let width = 24
                let filled = width * batch / max(batches, 1)
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
                write("\r\u{1B}[2Kepoch \(epoch)/\(epochs) \(bar) \(batch)/\(batches)  \(status)")
            } else if Date().timeIntervalSince(lastLogged) >= 10 || batch == batches {
                lastLogged = Date()
                write("epoch \(epoch)/\(epochs) batch \(batch)/\(batches)  \(status)\n")
            }
        case let .epoch(metrics, epochs):
            if isTerminal { write("\r\u{1B}[2K") }
            let losses = metrics.losses.sorted { $0.key < $1.key }.map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(
                separator: ", ")
            let settings = (metrics.settings ?? [:]).sorted { $0.key < $1.key }.map {
                String(format: "  %@ %g", $0.key, $0.value)
            }.joined()
            write(
                String(
                    format: "epoch %d/%d  %@%@  train acc %.2f%%  test acc %.2f%%  lr %.4g  %.1f s  %.0f img/s\n",
                    metrics.epoch, epochs, losses, settings, metrics.trainAccuracy * 100, metrics.testAccuracy * 100,
                    metrics.learningRate, metrics.seconds, metrics.imagesPerSecond))
        }
    }

    private func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return String(format: "%d:%02d", total / 60, total % 60)
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
