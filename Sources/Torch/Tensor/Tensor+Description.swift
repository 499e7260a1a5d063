import Foundation

extension Tensor: CustomStringConvertible {
    /// The tensor printed as PyTorch prints it: `tensor([[1., 2.],\n        [3., 4.]])`.
    ///
    /// Floating-point values use PyTorch's three modes (integers as `1.`, fixed `0.1235`, or
    /// scientific `1.2346e+05` when the magnitudes span more than 10³ or leave [10⁻⁴, 10⁸]);
    /// tensors over 1 000 elements show the first and last three entries of each dimension.
    /// The dtype is appended unless it is the default for its kind (float32, int64, bool).
    public var description: String {
        let shape = self.shape
        let dtype = self.dtype
        let summarize = scalarCount > 1000
        let formatter: (Double) -> String
        let values: [Double]
        switch dtype {
        case .bool:
            values = scalars(as: UInt8.self).map(Double.init)
            formatter = { $0 != 0 ? "True" : "False" }
        case _ where dtype.isFloatingPoint:
            values = scalars(as: Double.self)
            formatter = Tensor.floatFormatter(for: values)
        default:
            values = scalars(as: Int64.self).map(Double.init)
            formatter = { String(Int64($0)) }
        }
        let width = values.map { formatter($0).count }.max() ?? 0
        let pad: (Double) -> String = { value in
            let text = formatter(value)
            return String(repeating: " ", count: width - text.count) + text
        }
        var suffixes: [String] = []
        if ![.float32, .int64, .bool].contains(dtype) { suffixes.append("dtype=\(dtype)") }
        if scalarCount == 0 && shape != [0] {
            suffixes.append("size=(\(shape.map(String.init).joined(separator: ", "))\(shape.count == 1 ? "," : "")))")
        }
        if requiresGrad { suffixes.append("requires_grad=True") }
        let body: String
        if shape.isEmpty {
            body = values.first.map(formatter) ?? ""
        } else {
            body = Tensor.format(values, shape: shape, offset: 0, depth: 0, indent: 7, summarize: summarize, pad: pad)
        }
        return "tensor(" + ([body] + suffixes).joined(separator: ", ") + ")"
    }

    private static func floatFormatter(for values: [Double]) -> (Double) -> String {
        let finite = values.filter { $0.isFinite && $0 != 0 }.map { Swift.abs($0) }
        func special(_ value: Double) -> String? {
            if value.isNaN { return "nan" }
            if value.isInfinite { return value > 0 ? "inf" : "-inf" }
            return nil
        }
        if finite.allSatisfy({ $0 == $0.rounded() }) {
            let maximum = finite.max() ?? 0
            let minimum = finite.min() ?? 0
            if maximum / minimum > 1000 || maximum > 1e8 {
                return { special($0) ?? String(format: "%.4e", $0) }
            }
            return { special($0) ?? String(format: "%.0f.", $0) }
        }
        let maximum = finite.max() ?? 0
        let minimum = finite.min() ?? 0
        if maximum / minimum > 1000 || maximum > 1e8 || minimum < 1e-4 {
            return { special($0) ?? String(format: "%.4e", $0) }
        }
        return { special($0) ?? String(format: "%.4f", $0) }
    }

    private static func format(
        _ values: [Double], shape: [Int], offset: Int, depth: Int, indent: Int, summarize: Bool, pad: (Double) -> String
    ) -> String {
        let size = shape[depth]
        let stride = shape[(depth + 1)...].reduce(1, *)
        let indices: [Int?] = summarize && size > 6 ? Array(0..<3) + [nil] + Array((size - 3)..<size) : Array(0..<size)
        if depth == shape.count - 1 {
            let items = indices.map { index in index.map { pad(values[offset + $0]) } ?? " ..." }
            return "[" + items.joined(separator: ", ") + "]"
        }
        let separator =
            "," + String(repeating: "\n", count: shape.count - depth - 1) + String(repeating: " ", count: indent + depth + 1)
        let items = indices.map { index in
            index.map {
                format(
                    values, shape: shape, offset: offset + $0 * stride, depth: depth + 1, indent: indent, summarize: summarize,
                    pad: pad)
            } ?? "..."
        }
        return "[" + items.joined(separator: separator) + "]"
    }
}
