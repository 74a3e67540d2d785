//! Reports: a JSON journal, an SVG timeline and the workload's history (JSON lines) per
//! experiment, and a Markdown summary and JUnit XML for the whole run.

pub mod junit;
pub mod markdown;
pub mod svg;
pub mod table;

use std::path::{Path, PathBuf};

use crate::journal::Journal;

/// The files one run wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub summary: PathBuf,
    pub junit: PathBuf,
    pub journals: Vec<PathBuf>,
    pub timelines: Vec<PathBuf>,
    pub histories: Vec<PathBuf>,
}

pub fn write_all(dir: &Path, journals: &[Journal]) -> std::io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let mut written = Written {
        summary: dir.join("summary.md"),
        junit: dir.join("junit.xml"),
        journals: Vec::new(),
        timelines: Vec::new(),
        histories: Vec::new(),
    };
    for journal in journals {
        let slug = journal.slug();
        let journal_path = dir.join(format!("{slug}.journal.json"));
        std::fs::write(&journal_path, serde_json::to_string_pretty(journal).expect("a journal serialises"))?;
        let timeline_path = dir.join(format!("{slug}.timeline.svg"));
        std::fs::write(&timeline_path, svg::timeline(journal))?;
        written.journals.push(journal_path);
        written.timelines.push(timeline_path);
        if let Some(record) = &journal.history {
            let history_path = dir.join(format!("{slug}.history.jsonl"));
            history::jsonl::write(&record.ops, std::io::BufWriter::new(std::fs::File::create(&history_path)?))?;
            written.histories.push(history_path);
        }
    }
    std::fs::write(&written.summary, markdown::summary(journals))?;
    std::fs::write(&written.junit, junit::report(journals))?;
    Ok(written)
}

/// Seconds with two decimals, or a dash.
pub fn seconds(duration: Option<std::time::Duration>) -> String {
    duration.map_or_else(|| "–".to_owned(), |duration| format!("{:.2} s", duration.as_secs_f64()))
}
