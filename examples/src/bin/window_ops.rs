//! One event stream in four windowings: tumbling (5 min), sliding (10 min every
//! 2 min), sessions (30 min gap, per user) and the global window with a count
//! trigger (a pane every 100 events):
//! `cargo run --release -p examples --bin window_ops -- --runner direct`.

use beam_core::{
    AccumulationMode, Count, Duration, Flatten, Map, PCollection, PCollectionList, ParDo, Pipeline,
    PipelineOptions, Result, Trigger, WindowFn, WindowInto,
};
use clap::Parser;
use examples::output::{read_lines, write_lines, IoArgs};
use examples::records::{minutes, window_span, Event, FormatInWindow, ParseEvents};
use std::marker::PhantomData;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Counts of one event stream under four windowings")]
struct Args {
    #[command(flatten)]
    io: IoArgs,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn counted(
    events: &PCollection<Event>,
    name: &str,
    window: WindowInto<Event>,
) -> Result<PCollection<String>> {
    let label = name.to_string();
    events
        .apply(&format!("{name}Window"), window)?
        .apply(
            &format!("{name}Count"),
            Count::globally().without_defaults(),
        )?
        .apply(
            &format!("{name}Format"),
            ParDo::of(FormatInWindow(
                move |n: &u64, w: &beam_core::Window| {
                    format!("{label} {}: {n} events", window_span(w))
                },
                PhantomData,
            )),
        )
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let events = read_lines(&p, args.io.input.as_deref(), examples::SAMPLE_EVENTS)?
            .apply("Parse", ParDo::of(ParseEvents))?;
        let tumbling = counted(
            &events,
            "Tumbling",
            WindowInto::new(WindowFn::fixed(minutes(5))),
        )?;
        let sliding = counted(
            &events,
            "Sliding",
            WindowInto::new(WindowFn::sliding(minutes(10), minutes(2))),
        )?;
        let sessions = events
            .apply(
                "SessionWindow",
                WindowInto::new(WindowFn::sessions(minutes(30))),
            )?
            .apply("User", Map::new(|e: &Event| e.user.clone()))?
            .apply("SessionCount", Count::per_element())?
            .apply(
                "SessionFormat",
                ParDo::of(FormatInWindow(
                    |(u, n): &(String, u64), w: &beam_core::Window| {
                        format!("session {u} {}: {n} events", window_span(w))
                    },
                    PhantomData,
                )),
            )?;
        let every_100 = events
            .apply(
                "GlobalEvery100",
                WindowInto::configure().triggering(
                    Trigger::repeatedly(Trigger::after_count(100)),
                    AccumulationMode::Accumulating,
                    Duration::ZERO,
                ),
            )?
            .apply("GlobalCount", Count::globally().without_defaults())?
            .apply(
                "GlobalFormat",
                Map::new(|n: &u64| format!("global running count: {n} events")),
            )?;
        // The branches are windowed differently: bring each into the global window to flatten them.
        let mut branches = Vec::new();
        for (name, b) in [
            ("Tumbling", tumbling),
            ("Sliding", sliding),
            ("Sessions", sessions),
            ("Global", every_100),
        ] {
            branches.push(b.apply(
                &format!("{name}IntoGlobal"),
                WindowInto::new(WindowFn::Global),
            )?);
        }
        let all = PCollectionList::of(branches)?.apply("All", Flatten)?;
        write_lines(&all, args.io.output.as_deref())?;
        p.run()?;
        Ok(())
    })
}
