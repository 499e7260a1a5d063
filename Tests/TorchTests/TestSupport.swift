import Testing
@testable import Torch

/// Checks |actual − expected| ≤ atol + rtol·|expected| elementwise, reporting the worst element.
func assertClose(
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
func assertClose(
    _ actual: Tensor, _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    assertClose(actual.scalars(as: Double.self), expected, rtol: rtol, atol: atol, sourceLocation: sourceLocation)
}

/// Checks two tensors of the same shape against each other.
func assertClose(
    _ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-5, atol: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.shape == expected.shape, sourceLocation: sourceLocation)
    assertClose(actual.scalars(as: Double.self), expected.scalars(as: Double.self), rtol: rtol, atol: atol, sourceLocation: sourceLocation)
}

/// Central finite differences of a scalar function of a float64 tensor, one coordinate at a time.
func finiteDifferenceGradient(of function: (Tensor) -> Double, at point: Tensor, step: Double = 1e-6) -> [Double] {
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
