import EDLCMCore
import EDLCMData
import EDLCMEvaluation
import EDLCMModels
import EDLCMTraining
import Foundation

/// Small, dependency-free SVG charts for the HTML report: line charts and annotated heatmaps with
/// axes, "nice" ticks, legends and colour scales chosen to read well (Okabe–Ito colours, which stay
/// distinct for colour-blind readers; a perceptually ordered blue–yellow scale for heatmaps).
public enum SVGChart {
    /// Okabe–Ito's eight colours, black last.
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

    /// One line of a line chart.
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var dashed: Bool
        /// The palette entry; nil takes the series' position. A report gives every series of one
        /// run the run's colour, so that a run keeps its colour from chart to chart.
        public var colourIndex: Int?
        /// Points (by index) drawn as a large ring too: an operating point on a front.
        public var marked: Set<Int> = []

        public init(name: String, points: [(x: Double, y: Double)], dashed: Bool = false, colourIndex: Int? = nil) {
            self.name = name
            self.points = points
            self.dashed = dashed
            self.colourIndex = colourIndex
        }
    }

    /// Tick positions at 1, 2 or 5 × 10ⁿ covering `range` with about `count` ticks.
    public static func niceTicks(_ range: ClosedRange<Double>, count: Int = 5) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let rough = span / Double(max(count, 1))
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let first = ceil(range.lowerBound / step - 1e-9) * step
        return stride(from: first, through: range.upperBound + step * 1e-9, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    /// A tick label without trailing zeros ("0.25", "10", "1e-05").
    public static func label(_ value: Double) -> String {
        if value == 0 { return "0" }
        if abs(value) >= 1e5 || abs(value) < 1e-3 { return String(format: "%.0e", value) }
        var text = String(format: "%.4f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// Escapes text for SVG and HTML.
    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A line chart with axes, ticks, grid, markers and a legend.
    ///
    /// - Parameters:
    ///   - yRange: fixed y-axis range (for accuracies, 0...1); nil fits the data.
    ///   - percent: label the y axis in percent.
    public static func lineChart(
        title: String, xLabel: String, yLabel: String, series: [Series], yRange: ClosedRange<Double>? = nil,
        percent: Bool = false, width: Int = 440, height: Int = 280
    ) -> String {
        let left = 58.0, right = 12.0, top = 30.0, bottom = 44.0
        let legendHeight = Double(((series.count + 1) / 2) * 16)
        let plotWidth = Double(width) - left - right
        let plotHeight = Double(height) - top - bottom - legendHeight
        let xs = series.flatMap { $0.points.map(\.x) }.filter(\.isFinite)
        let ys = series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        var svg = header(width: width, height: height, title: title)
        guard let xMin = xs.min(), let xMax = xs.max(), let yMinData = ys.min(), let yMaxData = ys.max() else {
            svg += "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" class=\"empty\">no data</text></svg>"
            return svg
        }
        let xRange = xMin == xMax ? (xMin - 1)...(xMax + 1) : xMin...xMax
        var yRange =
            yRange
            ?? {
                let pad = (yMaxData - yMinData) * 0.08
                return yMinData == yMaxData ? (yMinData - 1)...(yMaxData + 1) : (yMinData - pad)...(yMaxData + pad)
            }()
        let yTicks = niceTicks(yRange)
        if let first = yTicks.first, let last = yTicks.last {
            yRange = min(first, yRange.lowerBound)...max(last, yRange.upperBound)
        }
        func px(_ x: Double) -> Double { left + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * plotWidth }
        func py(_ y: Double) -> Double {
            top + (1 - (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound)) * plotHeight
        }
        // Grid and axes.
        for tick in yTicks {
            let y = py(tick)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y))\" class=\"grid\"/>"
            svg +=
                "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\" class=\"tick\">\(percent ? label(tick * 100) + "%" : label(tick))</text>"
        }
        let xTicks = Set(xs).count <= 8 ? Array(Set(xs)).sorted() : niceTicks(xRange)
        for tick in xTicks {
            let x = px(tick)
            svg +=
                "<line x1=\"\(f(x))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(x))\" y2=\"\(f(top + plotHeight + 4))\" class=\"axis\"/>"
            svg +=
                "<text x=\"\(f(x))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\" class=\"tick\">\(label(tick))</text>"
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" class=\"frame\"/>"
        svg +=
            "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight + 32))\" text-anchor=\"middle\" class=\"label\">\(escape(xLabel))</text>"
        svg +=
            "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"label\">\(escape(yLabel))</text>"
        // Lines and markers.
        for (index, line) in series.enumerated() {
            let colour = palette[(line.colourIndex ?? index) % palette.count]
            let points = line.points.filter { $0.x.isFinite && $0.y.isFinite }
            let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg +=
                "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(line.dashed ? " stroke-dasharray=\"5 3\"" : "")><title>\(escape(line.name))</title></polyline>"
            for (offset, point) in points.enumerated() {
                if line.marked.contains(offset) {
                    svg +=
                        "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"7\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" class=\"marked\"/>"
                }
                svg +=
                    "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"3\" fill=\"\(colour)\"><title>\(escape(line.name)): \(label(point.x)), \(percent ? label(point.y * 100) + "%" : label(point.y))</title></circle>"
            }
        }
        // Legend, two columns under the plot.
        for (index, line) in series.enumerated() {
            let x = left + Double(index % 2) * plotWidth / 2
            let y = top + plotHeight + 44 + Double(index / 2) * 16
            let colour = palette[(line.colourIndex ?? index) % palette.count]
            svg +=
                "<line x1=\"\(f(x))\" y1=\"\(f(y - 4))\" x2=\"\(f(x + 18))\" y2=\"\(f(y - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"\(line.dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
            svg += "<text x=\"\(f(x + 24))\" y=\"\(f(y))\" class=\"legend\">\(escape(line.name))</text>"
        }
        return svg + "</svg>"
    }

    /// A heatmap with the value printed in every cell.
    ///
    /// - Parameters:
    ///   - range: the colour scale's domain; values outside are clamped.
    ///   - format: how a cell's number is printed.
    public static func heatmap(
        title: String, rowLabels: [String], columnLabels: [String], values: [[Double]],
        range: ClosedRange<Double>, format: (Double) -> String
    ) -> String {
        let cell = 46.0
        let left = 80.0, top = 48.0
        let width = Int(left + cell * Double(columnLabels.count) + 70)
        let height = Int(top + cell * Double(rowLabels.count) + 20)
        var svg = header(width: width, height: height, title: title)
        for (column, name) in columnLabels.enumerated() {
            svg +=
                "<text x=\"\(f(left + cell * (Double(column) + 0.5)))\" y=\"\(f(top - 6))\" text-anchor=\"middle\" class=\"tick\">\(escape(name))</text>"
        }
        for (row, name) in rowLabels.enumerated() {
            svg +=
                "<text x=\"\(f(left - 6))\" y=\"\(f(top + cell * (Double(row) + 0.5) + 4))\" text-anchor=\"end\" class=\"tick\">\(escape(name))</text>"
            for column in columnLabels.indices {
                let value = row < values.count && column < values[row].count ? values[row][column] : .nan
                let t = value.isFinite ? min(max((value - range.lowerBound) / (range.upperBound - range.lowerBound), 0), 1) : 0
                let (colour, dark) = value.isFinite ? scale(t) : ("#dddddd", false)
                let x = left + cell * Double(column), y = top + cell * Double(row)
                svg +=
                    "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(cell - 1))\" height=\"\(f(cell - 1))\" fill=\"\(colour)\"><title>\(escape(name)) → \(escape(columnLabels[column])): \(value.isFinite ? format(value) : "n/a")</title></rect>"
                svg +=
                    "<text x=\"\(f(x + cell / 2))\" y=\"\(f(y + cell / 2 + 4))\" text-anchor=\"middle\" class=\"cell\" fill=\"\(dark ? "#ffffff" : "#111111")\">\(value.isFinite ? format(value) : "–")</text>"
            }
        }
        // Colour bar.
        let barX = left + cell * Double(columnLabels.count) + 14
        let barHeight = cell * Double(rowLabels.count)
        for step in 0..<20 {
            let t = 1 - Double(step) / 19
            svg +=
                "<rect x=\"\(f(barX))\" y=\"\(f(top + barHeight * Double(step) / 20))\" width=\"12\" height=\"\(f(barHeight / 20 + 0.5))\" fill=\"\(scale(t).0)\"/>"
        }
        svg += "<text x=\"\(f(barX + 16))\" y=\"\(f(top + 8))\" class=\"tick\">\(label(range.upperBound))</text>"
        svg += "<text x=\"\(f(barX + 16))\" y=\"\(f(top + barHeight))\" class=\"tick\">\(label(range.lowerBound))</text>"
        return svg + "</svg>"
    }

    /// A perceptually ordered dark-blue → teal → yellow scale (after viridis) and whether text on it should be white.
    static func scale(_ t: Double) -> (String, Bool) {
        let stops: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
        let position = min(max(t, 0), 1) * Double(stops.count - 1)
        let index = min(Int(position), stops.count - 2)
        let fraction = position - Double(index)
        let a = stops[index], b = stops[index + 1]
        let r = a.0 + (b.0 - a.0) * fraction, g = a.1 + (b.1 - a.1) * fraction, bl = a.2 + (b.2 - a.2) * fraction
        let luminance = 0.2126 * r + 0.7152 * g + 0.0722 * bl
        return (String(format: "#%02x%02x%02x", Int(r), Int(g), Int(bl)), luminance < 120)
    }

    /// The charts' CSS rules (the HTML pages and ``standalone(_:width:height:)`` share them).
    public static let style = """
        svg .title { font-size: 13px; font-weight: bold; fill: #222; } svg .tick { font-size: 10px; fill: #444; } svg .label { font-size: 11px; fill: #333; }
        svg .legend { font-size: 10px; fill: #222; } svg .cell { font-size: 11px; } svg .grid { stroke: #ececec; } svg .axis { stroke: #888; }
        svg .frame { fill: none; stroke: #999; } svg .empty { font-size: 12px; fill: #999; }
        """

    /// One SVG file of charts side by side (each `width` × `height`, as ``lineChart`` draws them),
    /// styled on its own, for a report in Markdown to link to.
    public static func standalone(_ charts: [String], width: Int = 440, height: Int = 280) -> String {
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width * charts.count)\" height=\"\(height)\" viewBox=\"0 0 \(width * charts.count) \(height)\" style=\"font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; background: #fff\">"
        svg += "<style>\(style)</style>"
        for (index, chart) in charts.enumerated() {
            svg += "<g transform=\"translate(\(index * width) 0)\">\(chart)</g>"
        }
        return svg + "</svg>\n"
    }

    private static func header(width: Int, height: Int, title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(title))\">"
            + "<text x=\"8\" y=\"18\" class=\"title\">\(escape(title))</text>"
    }

    private static func f(_ value: Double) -> String {
        String(format: "%.1f", value)
    }
}
