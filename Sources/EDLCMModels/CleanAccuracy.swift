import EDLCMCore
import EDLCMData
import Torch

/// Accuracy of an ensemble and of each member on clean images.
public struct CleanAccuracy: Codable, Equatable, Sendable {
    public var ensemble: Double
    public var members: [Double]
}

extension Ensemble {
    /// Evaluates clean accuracy over every example of `loader`, in evaluation mode and without
    /// gradients; restores the previous mode afterwards.
    public func cleanAccuracy(on loader: DataLoader, batchSize: Int = 500) -> CleanAccuracy {
        let wasTraining = isTraining
        eval()
        defer { setTraining(wasTraining) }
        var memberCorrect = [Double](repeating: 0, count: members.count)
        var ensembleCorrect = 0.0
        withoutGradients {
            for batch in loader.orderedBatches(size: batchSize) {
                let logits = firstOrderMemberLogits(batch.images)
                for (index, memberLogits) in logits.enumerated() {
                    memberCorrect[index] += correctCount(memberLogits, batch.labels)
                }
                ensembleCorrect += correctCount(combine(logits), batch.labels)
            }
        }
        let total = Double(loader.count)
        return CleanAccuracy(ensemble: ensembleCorrect / total, members: memberCorrect.map { $0 / total })
    }
}

/// The number of rows whose argmax equals the label.
package func correctCount(_ scores: Tensor, _ labels: Tensor) -> Double {
    (scores.argmax(alongAxis: 1) .== labels).sum().item()
}
