//! Reading an example's input and writing its output.

use beam_core::{
    Create, DoFn, PCollection, ParDo, Pipeline, ProcessContext, Result, ToList, UserResult,
    WindowFn, WindowInto,
};
use io_connectors::TextIO;
use std::io::Write;

/// The input and output options every example takes.
#[derive(clap::Args, Debug)]
pub struct IoArgs {
    /// Input file or glob (default: the bundled sample).
    #[arg(long)]
    pub input: Option<String>,
    /// Prefix of the output shard files `PREFIX-SSSSS-of-NNNNN` (default: print to standard output).
    #[arg(long)]
    pub output: Option<String>,
}

/// The lines of `input` (a file or glob), or of the bundled `sample` text.
pub fn read_lines(
    p: &Pipeline,
    input: Option<&str>,
    sample: &'static str,
) -> Result<PCollection<String>> {
    match input {
        Some(pattern) => p.apply("ReadLines", TextIO::read(pattern)),
        None => p.apply("ReadLines", Create::of(sample.lines().map(String::from))),
    }
}

#[derive(Clone)]
struct PrintLines;

impl DoFn for PrintLines {
    type In = Vec<String>;
    type Out = ();
    fn process(&mut self, lines: &Vec<String>, _: &mut ProcessContext<'_, ()>) -> UserResult {
        let mut sorted: Vec<&String> = lines.iter().collect();
        sorted.sort();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for l in sorted {
            writeln!(out, "{l}")?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Writes `lines` to one shard file `PREFIX-00000-of-00001` (sorted), or
/// prints them sorted when there is no `output`.
pub fn write_lines(lines: &PCollection<String>, output: Option<&str>) -> Result<()> {
    let global = lines.apply("IntoGlobalWindow", WindowInto::new(WindowFn::Global))?;
    match output {
        Some(prefix) => {
            global.apply("Write", TextIO::write(prefix).with_num_shards(1))?;
        }
        None => {
            global
                .apply("Gather", ToList::globally())?
                .apply("Print", ParDo::of(PrintLines))?;
        }
    }
    Ok(())
}
