import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Torch

/// The settings of the diversity and curvature analysis (`edlcm analyze`), each declared once.
public struct AnalysisConfig: SettingsGroup {
    @Setting("Test images analysed, a seeded stratified subset.", .atLeast(1)) public var samples = 1000
    @Setting("Images per batch of the analysis.", .atLeast(1)) public var batchSize = 100
    public var hvp = HVPSettings()
    @Setting("Power-iteration steps for the top input-Hessian eigenvalue.", .within(1...1000)) public var powerIterations = 20
    public var seeding = SeedSettings()
    public var data = DataFolderSettings()
    public var runtime = RuntimeSettings()

    public init() {}
}

/// The diversity and curvature of a trained ensemble on test images.
public struct DiversityReport: Codable, Equatable, Sendable {
    public var config: AnalysisConfig
    public var samples: Int
    /// M×M mean cos(dᵢ, dⱼ) of the members' finite-difference HVPs: the paper's transferability metric.
    public var hvpCosine: [[Double]]
    /// Mean of the off-diagonal entries of ``hvpCosine``.
    public var meanHVPCosine: Double
    /// The same matrix under one random Rademacher probe shared by the members, beside the
    /// configured probe: with the default gradient-sign probe the metric uses the direction that
    /// EDLCM's L_g trains on, so this one says whether the dispersion holds in other directions.
    /// nil in reports written before it existed.
    public var hvpCosineRademacher: [[Double]]?
    public var meanHVPCosineRademacher: Double?
    /// M×M mean cos(gᵢ, gⱼ) of the members' input gradients (the GAL/TRS diversity measure).
    public var gradientCosine: [[Double]]
    public var meanGradientCosine: Double
    /// Per member: mean ‖Hz‖ (finite difference, the probe's z).
    public var hvpNorm: [Double]
    /// Per member: mean ‖dₘ‖², the L_r the member would pay.
    public var curvatureLoss: [Double]
    /// Per member: the input-Hessian eigenvalue of largest magnitude, by power iteration on exact
    /// Hessian-vector products, averaged over examples.
    public var topEigenvalue: [Double]
    /// Per member: mean ‖∇ₓℓ‖.
    public var gradientNorm: [Double]

    enum CodingKeys: String, CodingKey {
        case config, samples
        case hvpCosine = "hvp_cosine", meanHVPCosine = "mean_hvp_cosine", gradientCosine = "gradient_cosine"
        case hvpCosineRademacher = "hvp_cosine_rademacher", meanHVPCosineRademacher = "mean_hvp_cosine_rademacher"
        case meanGradientCosine = "mean_gradient_cosine", hvpNorm = "hvp_norm", curvatureLoss = "curvature_loss"
        case topEigenvalue = "top_eigenvalue", gradientNorm = "gradient_norm"
    }
}

/// Measures how differently the members curve and how alike their gradients are.
public enum DiversityAnalysis {
    /// Analyses `images`/`labels` (in [0, 1], int64) in evaluation mode.
    ///
    /// Examples are independent in evaluation mode (BatchNorm uses running statistics), so each
    /// example's input Hessian is its own block and the batched power iteration below finds each
    /// example's eigenvalue separately.
    public static func analyse(_ ensemble: Ensemble, images: Tensor, labels: Tensor, config: AnalysisConfig) -> DiversityReport {
        let wasTraining = ensemble.isTraining
        ensemble.eval()
        defer { ensemble.setTraining(wasTraining) }
        let count = images.shape[0]
        let members = ensemble.members.count
        var hvpCos = [[Double]](repeating: [Double](repeating: 0, count: members), count: members)
        var gradCos = hvpCos, randomCos = hvpCos
        var hvpNorm = [Double](repeating: 0, count: members)
        var curvature = hvpNorm, eigen = hvpNorm, gradNorm = hvpNorm
        for start in stride(from: 0, to: count, by: config.batchSize) {
            let end = min(start + config.batchSize, count)
            let x = images[start..<end]
            let y = labels[start..<end]
            let weight = Double(end - start) / Double(count)
            let probe = HessianProbe(
                ensemble: ensemble, images: x, labels: y, h: config.hvp.h, direction: config.hvp.direction,
                sharing: config.hvp.sharing, createGraph: false)
            // The random probe draws from libtorch's generator, restored afterwards so that the
            // power iteration below starts where it would without it.
            let generator = Runtime.randomState()
            let random = HessianProbe(
                ensemble: ensemble, images: x, labels: y, h: config.hvp.h, direction: .rademacher, sharing: .shared,
                createGraph: false)
            try! Runtime.setRandomState(generator)  // the state just read: cannot be refused
            for i in 0..<members {
                for j in 0..<members {
                    randomCos[i][j] += meanCosine(random.products[i], random.products[j]).item() * weight
                }
            }
            for i in 0..<members {
                hvpNorm[i] += probe.products[i].flattened(startAxis: 1).norm(p: 2, alongAxes: [1]).mean().item() * weight
                curvature[i] += probe.products[i].flattened(startAxis: 1).squared().sum(alongAxis: 1).mean().item() * weight
                gradNorm[i] += probe.gradients[i].flattened(startAxis: 1).norm(p: 2, alongAxes: [1]).mean().item() * weight
                for j in 0..<members {
                    hvpCos[i][j] += meanCosine(probe.products[i], probe.products[j]).item() * weight
                    gradCos[i][j] += meanCosine(probe.gradients[i], probe.gradients[j]).item() * weight
                }
                let member = ensemble.members[i]
                eigen[i] +=
                    dominantEigenvalue(
                        of: { crossEntropy(logits: member($0), labels: y, reduction: .sum) }, at: x,
                        iterations: config.powerIterations
                    ).mean().item() * weight
            }
        }
        return DiversityReport(
            config: config, samples: count, hvpCosine: hvpCos, meanHVPCosine: offDiagonalMean(hvpCos, count: members) ?? 0,
            hvpCosineRademacher: randomCos, meanHVPCosineRademacher: offDiagonalMean(randomCos, count: members) ?? 0,
            gradientCosine: gradCos, meanGradientCosine: offDiagonalMean(gradCos, count: members) ?? 0, hvpNorm: hvpNorm,
            curvatureLoss: curvature, topEigenvalue: eigen, gradientNorm: gradNorm)
    }

    /// Per example, the eigenvalue of largest magnitude of the Hessian of `loss` with respect to
    /// that example's input, by power iteration on exact Hessian-vector products (double
    /// backpropagation). `loss` must be a sum of independent per-example terms.
    ///
    /// - Returns: a [B] tensor of Rayleigh quotients vᵀHv at the final unit vectors v.
    public static func dominantEigenvalue(of loss: (Tensor) -> Tensor, at images: Tensor, iterations: Int) -> Tensor {
        let x = images.detached().requiringGrad()
        let gradient = grad(of: loss(x), withRespectTo: x, retainGraph: true, createGraph: true)
        var v = HessianProbe.unitPerExample(images.randnLike())
        var hv = v
        for _ in 0..<iterations {
            hv = grad(of: (gradient * v).sum(), withRespectTo: x, retainGraph: true).detached()
            v = HessianProbe.unitPerExample(hv)
        }
        hv = grad(of: (gradient * v).sum(), withRespectTo: x, retainGraph: true).detached()
        return (v.flattened(startAxis: 1) * hv.flattened(startAxis: 1)).sum(alongAxis: 1)
    }
}

/// The mean of the entries (i, j), i ≠ j, of the leading `count` × `count` block of a matrix (the
/// members' block of a similarity or transfer matrix); nil for fewer than two members.
package func offDiagonalMean(_ matrix: [[Double]], count: Int) -> Double? {
    guard count > 1 else { return nil }
    var sum = 0.0
    for i in 0..<count { for j in 0..<count where i != j { sum += matrix[i][j] } }
    return sum / Double(count * (count - 1))
}

/// `analysis.json`: a diversity report with the command that made it.
public struct AnalysisRecord: Codable, Sendable {
    public var report: DiversityReport
    public var run: String
    public var command: [String]
    public var libtorchVersion: String
    public var edlcmVersion: String

    public init(
        report: DiversityReport, run: String, command: [String], libtorchVersion: String,
        edlcmVersion: String = EDLCMCore.edlcmVersion
    ) {
        self.report = report
        self.run = run
        self.command = command
        self.libtorchVersion = libtorchVersion
        self.edlcmVersion = edlcmVersion
    }

    enum CodingKeys: String, CodingKey {
        case report, run, command
        case libtorchVersion = "libtorch_version", edlcmVersion = "edlcm_version"
    }
}

extension AnalysisRecord {
    /// Analyses the run in `runFolder` on a seeded stratified subset of its test split and writes the
    /// record to `output` (atomically), as `edlcm analyze` does; `output` is checked (``checkOutputFile(_:)``)
    /// after the run is read, before any work.
    ///
    /// - Throws: ``EDLCMError`` when the run, its data or `output` cannot be read or written.
    @discardableResult
    public static func analyse(
        runFolder: String, config validated: Validated<AnalysisConfig>, output: URL, command: [String]
    ) throws -> AnalysisRecord {
        let config = validated.settings
        let trained = try TrainedEnsemble(runFolder: URL(fileURLWithPath: runFolder))
        try checkOutputFile(output)
        let device = try config.runtime.apply()
        trained.ensemble.move(to: device)
        let test = try trained.testSet(dataDirectory: config.data.directory)
        let subset = test.subset(
            stratifiedSubset(labels: test.labels, classCount: test.classCount, limit: config.samples, seed: config.seeding.seed))
        let batch = DataLoader(subset, batchSize: subset.count, device: device).batch(Array(0..<subset.count))
        Runtime.seed(config.seeding.seed)
        let report = DiversityAnalysis.analyse(trained.ensemble, images: batch.images, labels: batch.labels, config: config)
        let record = AnalysisRecord(report: report, run: runFolder, command: command, libtorchVersion: Runtime.libtorchVersion)
        try writeFileAtomically(try JSONStyle.record.encode(record), to: output)
        return record
    }
}
