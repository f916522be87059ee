//! Counts events per user per session (30-minute inactivity gap):
//! `cargo run --release -p examples --bin user_sessions -- --runner direct`.
//!
//! Input: `user_id,timestamp,action` lines (`--input`, default: the bundled
//! clickstream). Output: `user, session start, session end, events`.

use beam_core::{Count, Map, ParDo, Pipeline, PipelineOptions, WindowFn, WindowInto};
use clap::Parser;
use examples::output::{read_lines, write_lines, IoArgs};
use examples::records::{minutes, window_span, Event, FormatInWindow, ParseEvents};
use std::marker::PhantomData;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Events per user per session")]
struct Args {
    #[command(flatten)]
    io: IoArgs,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let sessions = read_lines(&p, args.io.input.as_deref(), examples::SAMPLE_EVENTS)?
            .apply("Parse", ParDo::of(ParseEvents))?
            .apply("Sessions", WindowInto::new(WindowFn::sessions(minutes(30))))?
            .apply("User", Map::new(|e: &Event| e.user.clone()))?
            .apply("CountPerSession", Count::per_element())?;
        let lines = sessions.apply(
            "Format",
            ParDo::of(FormatInWindow(
                |(user, n): &(String, u64), w: &beam_core::Window| {
                    format!("{user}, {}, {n} events", window_span(w))
                },
                PhantomData,
            )),
        )?;
        write_lines(&lines, args.io.output.as_deref())?;
        p.run()?;
        Ok(())
    })
}
