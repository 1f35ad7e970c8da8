//! The annual report's chart: one stacked bar per month (received, pending, projected fees),
//! drawn by `plotters` into an SVG string. Only the figures and the labels go in (no clock,
//! no randomness, no system fonts: text is laid out by plotters' built-in estimate), so the
//! same report gives the same bytes.

use astro_shared::text::display_money;
use plotters::prelude::*;

use super::report::Figures;

const SIZE: (u32, u32) = (960, 480);
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const RECEIVED: RGBColor = RGBColor(46, 125, 50);
const PENDING: RGBColor = RGBColor(249, 168, 37);
const PROJECTED: RGBColor = RGBColor(144, 164, 174);

/// The chart of `by_month` (January first) in `currency`, as an SVG document.
pub fn render(year: i32, currency: &str, by_month: &[Figures; 12]) -> anyhow::Result<String> {
    // Bars are in major units for the axis; the tallest sets the scale (at least 1).
    let major = |minor: i64| minor.max(0) as f64 / 100.0;
    let layers: Vec<[f64; 3]> = by_month
        .iter()
        .map(|month| {
            let received = major(month.received_minor);
            let pending = received + major(month.pending_minor());
            [received, pending, pending + major(month.projected_minor)]
        })
        .collect();
    let top = layers.iter().map(|layer| layer[2]).fold(1.0_f64, f64::max) * 1.1;
    let total = by_month
        .iter()
        .fold(Figures::default(), |sum, month| Figures {
            received_minor: sum.received_minor + month.received_minor,
            invoiced_minor: sum.invoiced_minor + month.invoiced_minor,
            credited_minor: sum.credited_minor + month.credited_minor,
            projected_minor: sum.projected_minor + month.projected_minor,
        });

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let caption = format!(
            "AstroBookings fee revenue {year} ({currency}): received {}, pending {}, projected {}",
            display_money(total.received_minor, currency),
            display_money(total.pending_minor(), currency),
            display_money(total.projected_minor, currency),
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(32)
            .y_label_area_size(80)
            .build_cartesian_2d((0u32..11u32).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(12)
            .x_label_formatter(&|segment| match segment {
                SegmentValue::CenterOf(month) | SegmentValue::Exact(month) => MONTHS
                    .get(*month as usize)
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                SegmentValue::Last => String::new(),
            })
            .y_desc(currency)
            .y_label_formatter(&|value| format!("{value:.0}"))
            .draw()?;
        // Tallest first, so each layer shows above the one drawn after it: a stack. Plain
        // rectangles in month order (plotters' Histogram groups through a HashMap, whose
        // order changes from run to run).
        for (layer, color, label) in [
            (2, PROJECTED, "Projected"),
            (1, PENDING, "Pending"),
            (0, RECEIVED, "Received"),
        ] {
            chart
                .draw_series((0u32..).zip(&layers).map(|(month, values)| {
                    let mut bar = Rectangle::new(
                        [
                            (SegmentValue::Exact(month), 0.0),
                            (SegmentValue::Exact(month + 1), values[layer]),
                        ],
                        color.filled(),
                    );
                    bar.set_margin(0, 0, 10, 10);
                    bar
                }))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months() -> [Figures; 12] {
        let mut months = [Figures::default(); 12];
        months[0].invoiced_minor = 150_000;
        months[0].received_minor = 100_000;
        months[6].projected_minor = 4_200;
        months
    }

    #[test]
    fn the_same_figures_draw_the_same_bytes() {
        let svg = render(2026, "USD", &months()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("Jan") && svg.contains("Dec"));
        assert!(svg.contains("received USD 1,000.00"), "{svg}");
        // Compared without printing: a failure would dump two whole documents.
        assert!(svg == render(2026, "USD", &months()).unwrap());
        let mut other = months();
        other[3].received_minor = 1;
        other[3].invoiced_minor = 1;
        assert!(svg != render(2026, "USD", &other).unwrap());
    }
}
