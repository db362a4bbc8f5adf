import Foundation

/// A horizontal bar chart as SVG text: one row per label, one or more stacked or grouped segments per row.
struct SVGChart {
    struct Row {
        var label: String
        /// (series name, value) — stacked left to right when `stacked`, else drawn as grouped bars.
        var values: [(String, Double)]
    }

    var title: String
    var unit: String
    var rows: [Row]
    var stacked: Bool
    /// A vertical reference line (e.g. a target), with its caption.
    var reference: (Double, String)?

    static let palette = ["#3b6ea5", "#e07b39", "#5aa469", "#d4b02f", "#c94c4c", "#8b6bb8", "#999999"]

    var text: String {
        let labelWidth = 250.0
        let plotWidth = 520.0
        let series = self.rows.first?.values.map(\.0) ?? []
        let barHeight = 14.0
        let rowHeight = self.stacked ? 24.0 : Double(series.count) * (barHeight + 2) + 10
        let height = 60 + Double(self.rows.count) * rowHeight + 30
        let maximum = max(
            self.rows.map { row in self.stacked ? row.values.reduce(0) { $0 + $1.1 } : (row.values.map(\.1).max() ?? 0) }.max() ?? 1,
            self.reference?.0 ?? 0, 1e-9)
        func x(_ value: Double) -> Double { labelWidth + plotWidth * value / maximum }
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(labelWidth + plotWidth + 120))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="10" y="20" font-size="14" font-weight="bold">\(Self.escape(self.title))</text>

            """
        var legendX = 10.0
        for (index, name) in series.enumerated() {
            out += "<rect x=\"\(legendX)\" y=\"30\" width=\"10\" height=\"10\" fill=\"\(Self.palette[index % Self.palette.count])\"/>"
            out += "<text x=\"\(legendX + 14)\" y=\"39\">\(Self.escape(name))</text>\n"
            legendX += 24 + Double(name.count) * 7
        }
        for (rowIndex, row) in self.rows.enumerated() {
            let top = 55 + Double(rowIndex) * rowHeight
            out += "<text x=\"\(labelWidth - 6)\" y=\"\(top + 12)\" text-anchor=\"end\">\(Self.escape(row.label))</text>\n"
            var left = 0.0
            for (index, (_, value)) in row.values.enumerated() {
                let color = Self.palette[index % Self.palette.count]
                if self.stacked {
                    out += "<rect x=\"\(x(left))\" y=\"\(top)\" width=\"\(max(x(left + value) - x(left), 0))\" height=\"\(barHeight + 4)\" fill=\"\(color)\"/>\n"
                    left += value
                } else {
                    let y = top + Double(index) * (barHeight + 2)
                    out += "<rect x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(max(x(value) - labelWidth, 0))\" height=\"\(barHeight)\" fill=\"\(color)\"/>"
                    out += "<text x=\"\(x(value) + 4)\" y=\"\(y + 11)\" font-size=\"10\">\(Self.format(value)) \(self.unit)</text>\n"
                }
            }
            if self.stacked {
                out += "<text x=\"\(x(left) + 4)\" y=\"\(top + 13)\" font-size=\"10\">\(Self.format(left)) \(self.unit)</text>\n"
            }
        }
        if let (value, caption) = self.reference {
            out += "<line x1=\"\(x(value))\" y1=\"50\" x2=\"\(x(value))\" y2=\"\(height - 25)\" stroke=\"#c00\" stroke-dasharray=\"4,3\"/>"
            out += "<text x=\"\(x(value) + 3)\" y=\"\(height - 12)\" fill=\"#c00\" font-size=\"10\">\(Self.escape(caption))</text>\n"
        }
        return out + "</svg>\n"
    }

    static func format(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
