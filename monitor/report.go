package monitor

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// WriteHTML writes a model's monitoring report as one self-contained HTML
// page (inline SVG, no script, nothing fetched): the newest drift report
// with each feature's reference and current histograms, PSI over the
// reports' as-of times, and the realized performance over time. reports
// are newest first, as Store.Latest returns them.
func WriteHTML(w io.Writer, model string, reports []Stored, perf []Performance) error {
	page := reportPage{Model: model, Generated: time.Now().UTC().Format(time.RFC3339)}
	if len(reports) > 0 {
		page.Latest = &reports[0]
		fs := reports[0].Report.Features
		if s := reports[0].Report.Score; s != nil {
			fs = append(fs, *s)
		}
		for _, f := range fs {
			page.Features = append(page.Features, featureView{Finding: f, Chart: histogramSVG(f)})
		}
		page.PSIChart = psiSVG(reports)
	}
	page.PerfChart = perfSVG(perf)
	page.Perf = perf
	return reportTemplate.Execute(w, page)
}

type featureView struct {
	Finding
	Chart template.HTML
}

type reportPage struct {
	Model, Generated string
	Latest           *Stored
	Features         []featureView
	PSIChart         template.HTML
	PerfChart        template.HTML
	Perf             []Performance
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f4":      func(v float64) string { return fmt.Sprintf("%.4f", v) },
	"p":       func(v float64) string { return fmt.Sprintf("%.3g", v) },
	"day":     func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"metrics": FormatMetrics,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sluice monitoring: {{.Model}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.meta{color:#5b6575;margin-bottom:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}
.card{border:1px solid #dde2ea;border-radius:8px;padding:10px 12px}
.card h3{font-size:14px;margin:0 0 4px;word-break:break-all}
.ok{color:#1a7f37}.warn{color:#9a6700}.alert{color:#cf222e;font-weight:600}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eef1f5;text-align:left}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
</style></head><body>
<h1>{{.Model}}: monitoring</h1>
<div class="meta">generated {{.Generated}}{{with .Latest}} · newest report: {{.Source}} run {{.RunID}} as of {{day .AsOf}}, v{{.Version}}, {{.Report.Rows}} rows, drift <span class="{{.Report.Level}}">{{.Report.Level}}</span>{{end}}</div>
{{if .Latest}}
<h2>Features: reference against current</h2>
<div class="legend"><span style="background:#8c96a8"></span>training reference<span style="background:#2f6fde"></span>current</div>
<div class="grid">{{range .Features}}<div class="card"><h3>{{.Name}} <span class="{{.Level}}">{{.Level}}</span></h3>
<div>PSI {{f4 .PSI}}{{if .Test}} · {{.Test}} {{f4 .Statistic}} (p {{p .PValue}}){{end}}</div>{{.Chart}}</div>{{end}}</div>
<h2>PSI over time</h2>{{.PSIChart}}
{{else}}<p>No drift report yet: scoring writes one.</p>{{end}}
<h2>Realized performance</h2>
{{if .Perf}}{{.PerfChart}}
<table><tr><th>as of</th><th>version</th><th>labels</th><th>metrics</th></tr>{{range .Perf}}<tr><td>{{day .Day}}</td><td>v{{.Version}}</td><td>{{.Rows}}</td><td>{{metrics .Metrics}}</td></tr>{{end}}</table>
{{else}}<p>No labels have arrived for the scored predictions yet.</p>{{end}}
</body></html>
`))

// histogramSVG draws a finding's reference and current shares per bin as
// paired bars.
func histogramSVG(f Finding) template.HTML {
	const w, h, pad = 360.0, 110.0, 4.0
	n := len(f.Reference)
	if n == 0 || len(f.Current) != n {
		return ""
	}
	share := func(c []uint64) []float64 {
		var t float64
		for _, v := range c {
			t += float64(v)
		}
		out := make([]float64, len(c))
		for i, v := range c {
			if t > 0 {
				out[i] = float64(v) / t
			}
		}
		return out
	}
	r, c := share(f.Reference), share(f.Current)
	top := 0.0
	for i := range r {
		top = max(top, r[i], c[i])
	}
	if top == 0 {
		top = 1
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg width="%g" height="%g" viewBox="0 0 %g %g" role="img"><rect width="%g" height="%g" fill="#fafbfc"/>`, w, h+16, w, h+16, w, h)
	bw := (w - 2*pad) / float64(n)
	for i := range n {
		x := pad + float64(i)*bw
		rh, ch := r[i]/top*(h-pad), c[i]/top*(h-pad)
		fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#8c96a8"/>`, x+1, h-rh, bw/2-1, rh)
		fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#2f6fde"/>`, x+bw/2, h-ch, bw/2-1, ch)
	}
	if len(f.Edges) > 1 {
		fmt.Fprintf(&sb, `<text x="%g" y="%g" font-size="10" fill="#5b6575">%s</text>`, pad, h+12, template.HTMLEscapeString(fmt.Sprintf("%.3g", f.Edges[0])))
		fmt.Fprintf(&sb, `<text x="%g" y="%g" font-size="10" fill="#5b6575" text-anchor="end">%s · last bar: missing</text>`, w-pad, h+12,
			template.HTMLEscapeString(fmt.Sprintf("%.3g", f.Edges[len(f.Edges)-1])))
	} else {
		fmt.Fprintf(&sb, `<text x="%g" y="%g" font-size="10" fill="#5b6575">categories in model order · last bar: missing or unseen</text>`, pad, h+12)
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

var palette = []string{"#2f6fde", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#0b7285", "#d6336c", "#495057"}

// lineSVG draws series of points (x in [0, 1]) with optional horizontal
// guides.
func lineSVG(series map[string][]float64, names []string, xs []string, guides []float64, yMax float64) template.HTML {
	const w, h, left, bottom = 760.0, 220.0, 48.0, 26.0
	if len(xs) == 0 {
		return ""
	}
	if yMax <= 0 {
		yMax = 1
	}
	px := func(i int) float64 {
		if len(xs) == 1 {
			return left + (w-left-10)/2
		}
		return left + float64(i)*(w-left-10)/float64(len(xs)-1)
	}
	py := func(v float64) float64 { return 8 + (h-bottom-8)*(1-math.Min(v, yMax)/yMax) }
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg width="%g" height="%g" viewBox="0 0 %g %g" role="img"><rect width="%g" height="%g" fill="#fafbfc"/>`, w, h+20*float64((len(names)+3)/4), w, h+20*float64((len(names)+3)/4), w, h)
	for _, g := range guides {
		fmt.Fprintf(&sb, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#d0d7de" stroke-dasharray="4 3"/><text x="4" y="%.1f" font-size="10" fill="#5b6575">%g</text>`, left, w-10, py(g), py(g), py(g)+3, g)
	}
	fmt.Fprintf(&sb, `<text x="4" y="12" font-size="10" fill="#5b6575">%.3g</text>`, yMax)
	fmt.Fprintf(&sb, `<text x="%g" y="%g" font-size="10" fill="#5b6575">%s</text>`, left, h-8, template.HTMLEscapeString(xs[0]))
	fmt.Fprintf(&sb, `<text x="%g" y="%g" font-size="10" fill="#5b6575" text-anchor="end">%s</text>`, w-10, h-8, template.HTMLEscapeString(xs[len(xs)-1]))
	for k, name := range names {
		color := palette[k%len(palette)]
		var pts []string
		for i, v := range series[name] {
			if !math.IsNaN(v) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(i), py(v)))
			}
		}
		fmt.Fprintf(&sb, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), color)
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			fmt.Fprintf(&sb, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, x, y, color)
		}
		fmt.Fprintf(&sb, `<rect x="%g" y="%g" width="10" height="10" fill="%s"/><text x="%g" y="%g" font-size="11">%s</text>`,
			left+float64(k%4)*180, h+6+20*float64(k/4), color, left+14+float64(k%4)*180, h+15+20*float64(k/4), template.HTMLEscapeString(name))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// psiSVG draws the PSI of the (up to 8) most drifted features across the
// reports, oldest first.
func psiSVG(reports []Stored) template.HTML {
	ordered := slices.Clone(reports)
	slices.Reverse(ordered)
	series := map[string][]float64{}
	var xs []string
	top := 0.3
	for i, r := range ordered {
		xs = append(xs, r.AsOf.UTC().Format("2006-01-02"))
		fs := r.Report.Features
		if r.Report.Score != nil {
			fs = append(fs, *r.Report.Score)
		}
		for _, f := range fs {
			if series[f.Name] == nil {
				series[f.Name] = make([]float64, len(ordered))
				for j := range series[f.Name] {
					series[f.Name][j] = math.NaN()
				}
			}
			series[f.Name][i] = f.PSI
			top = max(top, f.PSI)
		}
	}
	latest := map[string]float64{}
	for name, vals := range series {
		latest[name] = vals[len(vals)-1]
	}
	names := make([]string, 0, len(series))
	for n := range series {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(latest[b], latest[a]), strings.Compare(a, b)) })
	if len(names) > 8 {
		names = names[:8]
	}
	return lineSVG(series, names, xs, []float64{0.1, 0.25}, top*1.1)
}

// perfSVG draws each version's main metric (AUC, else RMSE) per day.
func perfSVG(perf []Performance) template.HTML {
	if len(perf) == 0 {
		return ""
	}
	metric := "auc"
	if _, ok := perf[0].Metrics["auc"]; !ok {
		metric = "rmse"
	}
	days := map[string]bool{}
	for _, p := range perf {
		days[p.Day.UTC().Format("2006-01-02")] = true
	}
	var xs []string
	for d := range days {
		xs = append(xs, d)
	}
	slices.Sort(xs)
	series := map[string][]float64{}
	top := 0.0
	for _, p := range perf {
		name := fmt.Sprintf("v%d %s", p.Version, metric)
		if series[name] == nil {
			series[name] = make([]float64, len(xs))
			for i := range series[name] {
				series[name][i] = math.NaN()
			}
		}
		i, _ := slices.BinarySearch(xs, p.Day.UTC().Format("2006-01-02"))
		series[name][i] = p.Metrics[metric]
		top = max(top, p.Metrics[metric])
	}
	names := make([]string, 0, len(series))
	for n := range series {
		names = append(names, n)
	}
	slices.Sort(names)
	guides := []float64{0.5}
	if metric != "auc" {
		guides = nil
		top *= 1.1
	} else {
		top = 1
	}
	return lineSVG(series, names, xs, guides, top)
}
