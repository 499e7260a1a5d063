import Foundation

/// The product of non-negative factors, or `nil` when it overflows `Int`.
package func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for factor in factors {
        guard factor >= 0 else { return nil }
        let (result, overflow) = product.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        product = result
    }
    return product
}

/// The sum of two integers, or `nil` when it overflows `Int`.
package func checkedSum(_ a: Int, _ b: Int) -> Int? {
    let (result, overflow) = a.addingReportingOverflow(b)
    return overflow ? nil : result
}

/// The project's version, recorded with every run.
public let edlcmVersion = "0.1.0"
