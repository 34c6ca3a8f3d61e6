//! The report's charts, one file per chart, each drawn with plotters into an SVG string.
pub struct Chart;
