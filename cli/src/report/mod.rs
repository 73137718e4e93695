//! `tokengate report`: the migration checklist, answered from Envoy's access log (SPEC §12).
//!
//! The pipeline: `input` reads lines (plain or gzip, bounded), `line` parses one, `tally` counts
//! it into bounded lists, `model` sorts and names the lists, and `text`, `markdown`, `html` and
//! `model::Report::to_json` lay them out. Nothing here decides anything: the edge's decision is
//! in the log line, and the report only groups it.

mod chart;
mod html;
mod input;
mod line;
mod markdown;
mod model;
mod names;
mod tally;
mod text;

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use input::{Line, Progress, Source};
use line::LogLine;
use names::Names;
use tally::Tally;

/// How to print the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A screenful for a terminal: counts, the next action, the top rows.
    Text,
    /// SPEC §12's JSON document.
    Json,
    /// Every row, as Markdown tables.
    Markdown,
    /// One self-contained HTML page with a per-day chart.
    Html,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Access-log files, plain or gzip (told by their first bytes). None, or `-`, reads stdin.
    pub files: Vec<PathBuf>,
    /// A registry ({"tokens": [...]}) or a policy holding one, to name tokens by name and user id.
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Rows shown per list in the text format (the others list every row).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub top: usize,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Bytes of input between progress lines.
    #[arg(long, default_value_t = 64 << 20, hide = true)]
    pub progress_every: u64,
}

/// What went wrong, for the caller to print and map to an exit code.
pub enum Error {
    /// Bad usage or an input that cannot be read at all.
    Usage(String),
    /// Stdout could not be written.
    Output(String),
}

/// Runs the report; `Ok(true)` when the checklist has entries.
pub fn run(args: &Args) -> Result<bool, Error> {
    let names = match &args.registry {
        None => Names::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display())))?;
            Names::from_json(&text).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?
        }
    };
    let sources = Source::from_args(&args.files);
    input::check_readable(&sources).map_err(Error::Usage)?;

    let mut tally = Tally::default();
    let mut progress = Progress::new(args.progress_every, args.quiet);
    let (mut buf, mut bytes, mut lines) = (Vec::with_capacity(4096), 0u64, 0u64);
    for source in &sources {
        let mut reader = source
            .open()
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", source.name())))?;
        loop {
            match input::read_line(&mut *reader, &mut buf, &mut bytes) {
                Ok(None) => break,
                Ok(Some(Line::TooLong)) => tally.unparseable(),
                Ok(Some(Line::Whole)) => {
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match LogLine::parse(&buf) {
                        Some(l) => tally.add(&l),
                        None => tally.unparseable(),
                    }
                }
                // A log cut short (a truncated gzip, a file rotated while read) still reports
                // what was read: say so and go on.
                Err(e) => {
                    progress.done();
                    let _ = writeln!(
                        std::io::stderr(),
                        "tokengate: {}: reading stopped after {} lines: {e}",
                        source.name(),
                        input::group(lines)
                    );
                    break;
                }
            }
            lines += 1;
            progress.tick(bytes, lines, tally.unparseable);
        }
    }
    progress.done();

    let report = model::Report::new(&tally, &names);
    let out = match args.format {
        Format::Text => text::render(&report, args.top),
        Format::Json => report.to_json().to_string(),
        Format::Markdown => markdown::render(&report),
        Format::Html => html::render(&report),
    };
    emit(&out)?;
    Ok(tally.open_items())
}

fn emit(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", text.trim_end()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Output(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}
