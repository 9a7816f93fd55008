import Foundation

/// A small SVG plotting surface: linear axes with round ticks, lines, steps, bars, points and
/// labels. Enough for the report's charts; everything inline, no scripts, no external assets.
struct SVGChart {
    let width = 800.0, height = 380.0
    let left = 78.0, right = 230.0, top = 34.0, bottom = 52.0
    var xRange: ClosedRange<Double>
    var yRange: ClosedRange<Double>
    var title: String
    var xLabel: String
    var yLabel: String
    private var body = ""
    private var legend: [(String, String, Bool)] = []   // label, colour, dashed
    private var notes: [(x: Double, y: Double, text: String, colour: String)] = []   // in pixels
    /// Where each point's note went (for tests: no two may intersect).
    private(set) var noteBoxes: [Box] = []

    /// A text's box in pixels, from an estimate of its width (11 px system-ui: about 6.3 px a
    /// character), generous so that real fonts stay inside it.
    struct Box: Equatable {
        var x: Double, y: Double, width: Double, height: Double
        func intersects(_ o: Box) -> Bool { x < o.x + o.width && o.x < x + width && y < o.y + o.height && o.y < y + height }
    }

    init(title: String, xLabel: String, yLabel: String, x: ClosedRange<Double>, y: ClosedRange<Double>) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        xRange = x.lowerBound == x.upperBound ? x.lowerBound...(x.lowerBound + 1) : x
        yRange = y.lowerBound == y.upperBound ? y.lowerBound...(y.lowerBound + 1) : y
    }

    var plotWidth: Double { width - left - right }
    var plotHeight: Double { height - top - bottom }

    func px(_ x: Double) -> Double { left + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * plotWidth }
    func py(_ y: Double) -> Double { top + plotHeight - (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * plotHeight }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Round tick values covering `range`: steps of 1, 2 or 5 × 10ⁿ, about `count` of them.
    static func ticks(_ range: ClosedRange<Double>, count: Int = 5) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = span / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var v = ceil(range.lowerBound / step) * step
        while v <= range.upperBound + step * 1e-9 { out.append(v); v += step }
        return out
    }

    /// A range from 0 (or `low`) to a round value above `high`.
    static func niceRange(_ high: Double, low: Double = 0) -> ClosedRange<Double> {
        guard high > low, high.isFinite else { return low...(low + 1) }
        let t = ticks(low...high)
        let step = t.count > 1 ? t[1] - t[0] : high
        return low...((t.last ?? high) < high ? (t.last ?? high) + step : (t.last ?? high))
    }

    mutating func line(_ points: [(Double, Double)], colour: String, label: String, dashed: Bool = false, markers: Bool = false) {
        let d = points.map { "\(Self.f(px($0.0))),\(Self.f(py($0.1)))" }.joined(separator: " ")
        body += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(d)\"/>\n"
        if markers { for p in points { body += "<circle cx=\"\(Self.f(px(p.0)))\" cy=\"\(Self.f(py(p.1)))\" r=\"3.5\" fill=\"\(colour)\"/>\n" } }
        legend.append((label, colour, dashed))
    }

    mutating func point(_ x: Double, _ y: Double, colour: String, note: String) {
        body += "<circle cx=\"\(Self.f(px(x)))\" cy=\"\(Self.f(py(y)))\" r=\"5\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
        if !note.isEmpty { notes.append((px(x), py(y), note, colour)) }
    }

    static func textWidth(_ s: String) -> Double { Double(s.count) * 6.3 + 2 }

    /// Places the points' notes so that none overlaps another (points at the same place, as two
    /// types with equal figures, would print their labels over each other): beside the point if
    /// free, else the nearest free slot below or above it, with a thin leader line when moved.
    mutating func placeNotes(avoiding obstacles: [Box] = []) -> String {
        var out = ""
        noteBoxes = []
        let h = 13.0
        for n in notes.sorted(by: { ($0.y, $0.x) < ($1.y, $1.x) }) {
            let w = Self.textWidth(n.text)
            // Right of the point unless that leaves the picture; then left of it.
            let boxX = n.x + 7 + w <= width - 4 ? n.x + 7 : max(4, n.x - 7 - w)
            var chosen: Box?
            for step in 0..<40 {
                for sign in step == 0 ? [1.0] : [1.0, -1.0] {
                    let candidate = Box(x: boxX, y: n.y - 7 - h + 3 + sign * Double(step) * h, width: w, height: h)
                    guard candidate.y >= top - 4, candidate.y + candidate.height <= height - 4 else { continue }
                    if !noteBoxes.contains(where: { $0.intersects(candidate) }) && !obstacles.contains(where: { $0.intersects(candidate) }) {
                        chosen = candidate
                        break
                    }
                }
                if chosen != nil { break }
            }
            let box = chosen ?? Box(x: boxX, y: n.y - 7 - h + 3, width: w, height: h)
            noteBoxes.append(box)
            let baseline = box.y + h - 3
            if abs(baseline - (n.y - 7)) > 1 {
                let anchorX = box.x >= n.x ? box.x : box.x + box.width
                out += "<line x1=\"\(Self.f(n.x))\" y1=\"\(Self.f(n.y))\" x2=\"\(Self.f(anchorX))\" y2=\"\(Self.f(box.y + h / 2))\" stroke=\"\(n.colour)\" stroke-width=\"0.7\"/>\n"
            }
            out += "<text x=\"\(Self.f(box.x))\" y=\"\(Self.f(baseline))\" font-size=\"11\" fill=\"\(n.colour)\">\(Self.escape(n.text))</text>\n"
        }
        return out
    }

    mutating func raw(_ s: String) { body += s }

    func axisLabel(_ v: Double) -> String {
        if abs(v) >= 1e9 { return String(format: "%gB", v / 1e9) }
        if abs(v) >= 1e6 { return String(format: "%gM", v / 1e6) }
        if abs(v) >= 1e4 { return String(format: "%gk", v / 1e3) }
        return String(format: "%g", v)
    }

    mutating func svg(xTicks: [Double]? = nil, xTickLabels: [String]? = nil) -> String {
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"system-ui, sans-serif\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>\n"
        s += "<text x=\"\(Self.f(left))\" y=\"20\" font-size=\"14\" font-weight=\"600\">\(Self.escape(title))</text>\n"
        let yTicks = Self.ticks(yRange)
        for t in yTicks {
            let y = py(t)
            s += "<line x1=\"\(Self.f(left))\" x2=\"\(Self.f(left + plotWidth))\" y1=\"\(Self.f(y))\" y2=\"\(Self.f(y))\" stroke=\"#e3e3e3\"/>\n"
            s += "<text x=\"\(Self.f(left - 6))\" y=\"\(Self.f(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(axisLabel(t))</text>\n"
        }
        let xs = xTicks ?? Self.ticks(xRange)
        for (i, t) in xs.enumerated() {
            let x = px(t)
            s += "<line x1=\"\(Self.f(x))\" x2=\"\(Self.f(x))\" y1=\"\(Self.f(top + plotHeight))\" y2=\"\(Self.f(top + plotHeight + 4))\" stroke=\"#555\"/>\n"
            let label = xTickLabels.map { $0[i] } ?? axisLabel(t)
            s += "<text x=\"\(Self.f(x))\" y=\"\(Self.f(top + plotHeight + 17))\" font-size=\"11\" text-anchor=\"middle\">\(Self.escape(label))</text>\n"
        }
        s += "<line x1=\"\(Self.f(left))\" x2=\"\(Self.f(left + plotWidth))\" y1=\"\(Self.f(top + plotHeight))\" y2=\"\(Self.f(top + plotHeight))\" stroke=\"#555\"/>\n"
        s += "<line x1=\"\(Self.f(left))\" x2=\"\(Self.f(left))\" y1=\"\(Self.f(top))\" y2=\"\(Self.f(top + plotHeight))\" stroke=\"#555\"/>\n"
        s += "<text x=\"\(Self.f(left + plotWidth / 2))\" y=\"\(Self.f(height - 10))\" font-size=\"12\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        s += "<text transform=\"translate(16 \(Self.f(top + plotHeight / 2))) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"
        s += body
        // Everything else that carries text is an obstacle for the notes.
        var obstacles = [Box(x: left, y: 6, width: Self.textWidth(title) * 14 / 11, height: 18)]
        for t in yTicks { obstacles.append(Box(x: left - 6 - Self.textWidth(axisLabel(t)), y: py(t) - 7, width: Self.textWidth(axisLabel(t)), height: 13)) }
        for (i, t) in xs.enumerated() {
            let label = xTickLabels.map { $0[i] } ?? axisLabel(t), w = Self.textWidth(label)
            obstacles.append(Box(x: px(t) - w / 2, y: top + plotHeight + 6, width: w, height: 14))
        }
        for (i, item) in legend.enumerated() {
            obstacles.append(Box(x: left + plotWidth + 14, y: top + 10 + Double(i) * 18 - 8, width: 28 + Self.textWidth(item.0), height: 15))
        }
        s += placeNotes(avoiding: obstacles)
        for (i, item) in legend.enumerated() {
            let y = top + 10 + Double(i) * 18, x = left + plotWidth + 14
            s += "<line x1=\"\(Self.f(x))\" x2=\"\(Self.f(x + 22))\" y1=\"\(Self.f(y))\" y2=\"\(Self.f(y))\" stroke=\"\(item.1)\" stroke-width=\"2\"\(item.2 ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            s += "<text x=\"\(Self.f(x + 28))\" y=\"\(Self.f(y + 4))\" font-size=\"11\">\(Self.escape(item.0))</text>\n"
        }
        return s + "</svg>\n"
    }
}
