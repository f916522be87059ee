use beam_core::{Count, FlatMap, Map, Pipeline, PipelineOptions};
use clap::Parser;
use io_connectors::TextIO;
// Link the runners `--runner` may name: a runner crate registers itself only
// when the program uses it.
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    input: String,
    #[arg(long, default_value = "counts")]
    output: String,
    #[command(flatten)]
    pipeline: PipelineOptions, // --runner, --parallelism, --job-name, --dump-graph, runner options
}

fn main() -> std::process::ExitCode {
    // Errors (a failing step names itself and the element) print as
    // `error: ...` and exit with status 1.
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let args = Args::parse();
        let p = Pipeline::new(args.pipeline);
        p.apply("Read", TextIO::read(&args.input))?
            .apply(
                "Words",
                FlatMap::new(|l: &String| {
                    l.split_whitespace().map(String::from).collect::<Vec<_>>()
                }),
            )?
            .apply("Count", Count::per_element())?
            .apply(
                "Format",
                Map::new(|(w, n): &(String, u64)| format!("{w}: {n}")),
            )?
            .apply("Write", TextIO::write(&args.output).with_num_shards(1))?;
        p.run()?;
        Ok(())
    })
}
