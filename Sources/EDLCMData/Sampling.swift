import EDLCMCore

/// The indices `0..<count` in an order drawn by a Fisher–Yates shuffle.
///
/// The loop is written out here (rather than calling `shuffle(using:)`, whose algorithm the
/// standard library may change) so that a seed gives the same order forever: for `i` from
/// `count - 1` down to 1, swap position `i` with position `generator.nextInt(below: i + 1)`.
///
/// - Returns: a permutation of `0..<count`; empty when `count <= 0`.
public func shuffledIndices(count: Int, using generator: inout SeededGenerator) -> [Int] {
    guard count > 0 else { return [] }
    var indices = Array(0..<count)
    var i = count - 1
    while i > 0 {
        let j = generator.nextInt(below: i + 1)
        indices.swapAt(i, j)
        i -= 1
    }
    return indices
}

/// A seeded, class-stratified sample of `min(limit, n)` positions of `labels`, where `n` is the
/// number of labels in `0..<classCount`.
///
/// Each class gets a share proportional to its frequency: class `c` with `n_c` labels has the
/// exact quota `total × n_c / n`; every class gets the whole part of its quota, and the
/// positions still missing go one each to the classes with the largest fractional parts
/// (largest-remainder rounding; ties go to the lower class index). Within a class the positions
/// are chosen by a partial Fisher–Yates shuffle driven by `SeededGenerator(seed:)`, classes
/// taken in index order, so the result depends only on the inputs.
///
/// Labels outside `0..<classCount` are never chosen. A `limit` at or below zero gives `[]`.
///
/// - Returns: the chosen positions, sorted ascending.
public func stratifiedSubset(labels: [Int32], classCount: Int, limit: Int, seed: UInt64) -> [Int] {
    guard classCount > 0, limit > 0 else { return [] }
    var members = [[Int]](repeating: [], count: classCount)
    for (position, label) in labels.enumerated() where label >= 0 && Int(label) < classCount {
        members[Int(label)].append(position)
    }
    let available = members.reduce(0) { $0 + $1.count }
    let total = min(limit, available)
    guard total > 0 else { return [] }

    // Quotas: total × n_c / available, split exactly into whole part and remainder
    // (the product is computed full-width, so it cannot overflow).
    var quotas = [Int](repeating: 0, count: classCount)
    var remainders = [UInt](repeating: 0, count: classCount)
    for c in 0..<classCount {
        let product = UInt(total).multipliedFullWidth(by: UInt(members[c].count))
        let (quotient, remainder) = UInt(available).dividingFullWidth(product)
        quotas[c] = Int(quotient)
        remainders[c] = remainder
    }
    let missing = total - quotas.reduce(0, +)
    let byRemainder = (0..<classCount).sorted { a, b in
        remainders[a] != remainders[b] ? remainders[a] > remainders[b] : a < b
    }
    for c in byRemainder.prefix(missing) { quotas[c] += 1 }

    var generator = SeededGenerator(seed: seed)
    var chosen = [Int]()
    chosen.reserveCapacity(total)
    for c in 0..<classCount {
        var pool = members[c]
        let take = quotas[c]
        for i in 0..<take {
            let j = i + generator.nextInt(below: pool.count - i)
            pool.swapAt(i, j)
        }
        chosen.append(contentsOf: pool[0..<take])
    }
    chosen.sort()
    return chosen
}
