//! Writing one picture as PNG and SVG from the same drawing code: a
//! [`Picture`] draws onto any plotters backend; [`save`] runs it on the
//! bitmap backend (PNG) and the SVG backend.
//!
//! Text in the PNG is rendered with the DejaVu Sans font embedded in the
//! binary (the `dejavu` crate), so nothing has to be installed; the SVG
//! keeps text as `<text>` elements.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::post::PostError;

/// Why drawing onto backend `DB` failed: plotters' own error, which keeps
/// the backend's cause (an I/O error for SVG, an image error for PNG).
pub type DrawError<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;

/// Why an SVG could not be drawn in memory ([`svg_string`]).
pub type SvgError = DrawError<SVGBackend<'static>>;

/// Something drawn the same way into a PNG and an SVG.
pub trait Picture {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draw onto `root` (already white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError<DB>>;
}

static FONTS: Once = Once::new();

/// Register the embedded font as plotters' `sans-serif` (once per process).
fn register_fonts() {
    FONTS.call_once(|| {
        // The embedded files are valid fonts; if one were not, text would be
        // missing from PNGs only (the SVGs carry their text as text).
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Draw `picture` into `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns both paths.
pub fn save(picture: &impl Picture, dir: &Path, stem: &str) -> Result<Vec<PathBuf>, PostError> {
    register_fonts();
    let size = picture.size();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| PostError::write(&png, e))?;
        picture.draw(&root).map_err(|e| PostError::write(&png, e))?;
        root.present().map_err(|e| PostError::write(&png, e))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| PostError::write(&svg, e))?;
        picture.draw(&root).map_err(|e| PostError::write(&svg, e))?;
        root.present().map_err(|e| PostError::write(&svg, e))?;
    }
    Ok(vec![png, svg])
}

/// Draw `picture` as an SVG document in memory (the dashboard serves it).
pub fn svg_string(picture: &impl Picture) -> Result<String, SvgError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, picture.size()).into_drawing_area();
        root.fill(&WHITE)?;
        picture.draw(&root)?;
        root.present()?;
    }
    Ok(out)
}

/// The legend of a line chart: lower right, on a pale background.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), DrawError<DB>> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
}

/// A distinct colour for series `i`.
pub fn colour(i: usize) -> RGBColor {
    const COLOURS: [RGBColor; 20] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
        RGBColor(57, 59, 121),
        RGBColor(173, 73, 74),
        RGBColor(0, 0, 0),
        RGBColor(99, 121, 57),
        RGBColor(255, 187, 120),
        RGBColor(152, 223, 138),
        RGBColor(174, 199, 232),
        RGBColor(197, 176, 213),
        RGBColor(140, 109, 49),
        RGBColor(247, 182, 210),
    ];
    COLOURS[i % COLOURS.len()]
}

/// `(lo, hi)` of the finite `values` with a margin of 5% of their spread on
/// each side, whatever their scale (rewards of 1e-4 get an axis of 1e-4, not
/// ±1e-3); a flat series gets 5% of its value; `(0, 1)` when there is none.
pub fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let spread = hi - lo;
    let pad = if spread > 0.0 {
        spread * 0.05
    } else if hi != 0.0 {
        hi.abs() * 0.05
    } else {
        0.05
    };
    (lo - pad, hi + pad)
}
