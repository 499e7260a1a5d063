import EDLCMCore
import Foundation
import Testing
import Torch

/// The message of the ``EDLCMError`` that `body` throws, nil when it throws nothing (another
/// error's description, marked as such).
public func errorMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as EDLCMError {
        return error.message
    } catch {
        return "unexpected error type: \(error)"
    }
}

/// Expects `body` to throw an ``EDLCMError`` whose message starts with `prefix`.
public func expectError(
    startingWith prefix: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    guard let message = errorMessage(body) else {
        Issue.record("no error thrown; expected one starting with '\(prefix)'", sourceLocation: sourceLocation)
        return
    }
    #expect(message.hasPrefix(prefix), "'\(message)' does not start with '\(prefix)'", sourceLocation: sourceLocation)
}

/// Expects `body` to throw an ``EDLCMError`` whose one-line message contains every fragment.
public func expectError(
    containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    guard let message = errorMessage(body) else {
        Issue.record("expected an error containing \(fragments)", sourceLocation: sourceLocation)
        return
    }
    #expect(!message.contains("\n"), "message spans lines: \(message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(message.contains(fragment), "\"\(message)\" lacks \"\(fragment)\"", sourceLocation: sourceLocation)
    }
}

/// Checks |actual − expected| ≤ atol + rtol·|expected| elementwise, reporting the worst element.
public func assertClose(
    _ actual: [Double], _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, "count \(actual.count) ≠ \(expected.count)", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    for (index, (a, e)) in zip(actual, expected).enumerated() where !(Swift.abs(a - e) <= atol + rtol * Swift.abs(e)) {
        Issue.record("element \(index): \(a) vs expected \(e) (rtol \(rtol), atol \(atol))", sourceLocation: sourceLocation)
        return
    }
}

/// Checks a tensor's values against expected ones (converted to Double).
public func assertClose(
    _ actual: Tensor, _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    assertClose(actual.scalars(as: Double.self), expected, rtol: rtol, atol: atol, sourceLocation: sourceLocation)
}

/// Checks two tensors of the same shape against each other.
public func assertClose(
    _ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-5, atol: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.shape == expected.shape, sourceLocation: sourceLocation)
    assertClose(
        actual.scalars(as: Double.self), expected.scalars(as: Double.self), rtol: rtol, atol: atol, sourceLocation: sourceLocation
    )
}

/// Central finite differences of a scalar function of a float64 tensor, one coordinate at a time.
public func finiteDifferenceGradient(of function: (Tensor) -> Double, at point: Tensor, step: Double = 1e-6) -> [Double] {
    let base = point.scalars(as: Double.self)
    return base.indices.map { index in
        var plus = base
        var minus = base
        plus[index] += step
        minus[index] -= step
        let up = function(Tensor(plus, shape: point.shape))
        let down = function(Tensor(minus, shape: point.shape))
        return (up - down) / (2 * step)
    }
}

/// A fresh empty folder under the system's temporary directory.
public func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("edlcm-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs a program to completion and returns its exit status and combined output.
@discardableResult
public func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (
    status: Int32, output: String
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The repository root (for locating the built binary and scripts).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Whether Debian's Fashion-MNIST is installed.
public let fashionMNISTInstalled = FileManager.default.fileExists(
    atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

/// A suite or test trait that runs it while holding one process-wide lock on libtorch's global
/// random generator.
///
/// Tests that seed the generator and compare runs (training twice, resuming) see other tests'
/// draws when they run in parallel; suites that seed or draw heavily take this lock so that they
/// run one at a time. Applied to a suite, it holds the lock around the whole suite.
public struct ExclusiveRandomGenerator: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil ? self : nil
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void)
        async throws
    {
        await generatorLock.acquire()
        do {
            try await function()
        } catch {
            await generatorLock.release()
            throw error
        }
        await generatorLock.release()
    }
}

extension Trait where Self == ExclusiveRandomGenerator {
    /// Holds the lock on libtorch's global random generator while the suite or test runs.
    public static var exclusiveRandomGenerator: Self { Self() }
}

/// A first-come, first-served lock for async code.
private actor AsyncLock {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard held else {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
    }
}

private let generatorLock = AsyncLock()

/// Debian's Chromium, when installed.
public let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Looks at a page as a person would: headless Chromium renders `html` into a screenshot of
/// `width × height` pixels beside it; returns the fraction of pixels that are not white and, per
/// colour (r, g, b, tolerance), how many pixels are within the tolerance of it on every channel.
///
/// - Throws: when Chromium writes no screenshot or Python (with PIL) cannot read it.
public func renderedPage(_ html: URL, width: Int = 1280, height: Int, colours: [(Int, Int, Int, Int)]) throws -> (
    nonWhite: Double, colourCounts: [Int]
) {
    let screenshot = html.deletingPathExtension().appendingPathExtension("png")
    let shot = try runProcess(
        chromium ?? "/usr/bin/chromium",
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--screenshot=\(screenshot.path)",
            "--window-size=\(width),\(height)", html.absoluteString,
        ])
    guard FileManager.default.fileExists(atPath: screenshot.path) else {
        throw RenderError(message: "no screenshot: \(shot.output)")
    }
    let script = """
        import sys
        from PIL import Image
        image = Image.open(sys.argv[1]).convert("RGB")
        pixels = list(image.getdata())
        counts = [str(sum(1 for p in pixels if all(abs(a - b) <= t for a, b in zip(p, (r, g, b)))))
                  for r, g, b, t in [tuple(map(int, c.split(","))) for c in sys.argv[2:]]]
        print(f"{sum(1 for p in pixels if p != (255, 255, 255)) / len(pixels):.4f}", *counts)
        """
    let result = try runProcess(
        "/usr/bin/python3", ["-c", script, screenshot.path] + colours.map { "\($0.0),\($0.1),\($0.2),\($0.3)" })
    let numbers = result.output.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    guard numbers.count == colours.count + 1 else { throw RenderError(message: "unreadable screenshot: \(result.output)") }
    return (numbers[0], numbers.dropFirst().map { Int($0) })
}

public struct RenderError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
