//! Stateful risk scoring: per user, a profile (payment count and total) in
//! ValueState and the payments of the last 10 minutes in BagState; each payment
//! gets a risk score from how far it exceeds the user's average and how many
//! payments came in the last 10 minutes; a score above 0.8 raises an alert. An
//! event-time timer clears a profile after 60 minutes without payments:
//! `cargo run --release -p examples --bin risk_scoring -- --runner direct`.

use beam_core::{
    Map, ParDo, Pipeline, PipelineOptions, StateContext, StatefulDoFn, StatefulParDo, Timestamp,
    UserResult,
};
use clap::Parser;
use examples::output::{read_lines, write_lines, IoArgs};
use examples::records::{minutes, utc, ParseTransactions, Transaction};
use serde::{Deserialize, Serialize};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Stateful per-user risk scoring of payments")]
struct Args {
    #[command(flatten)]
    io: IoArgs,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Profile {
    count: u64,
    total: f64,
}

#[derive(Clone)]
struct RiskScorer;

const IDLE: &str = "idle";

impl RiskScorer {
    /// Scores one payment against the user's state, in event-time order.
    fn score(
        t: &Transaction,
        ctx: &mut StateContext<'_, String, String>,
    ) -> UserResult<Option<f64>> {
        let mut profile_state = ctx.value_state::<Profile>("profile")?;
        let mut profile = profile_state.read().unwrap_or_default();
        let average = if profile.count == 0 {
            t.amount
        } else {
            profile.total / profile.count as f64
        };
        profile.count += 1;
        profile.total += t.amount;
        profile_state.write(profile);

        let mut recent = ctx.bag_state::<(Timestamp, f64)>("recent")?;
        let horizon = t.timestamp - minutes(10);
        let mut kept: Vec<(Timestamp, f64)> = recent
            .read()
            .into_iter()
            .filter(|(ts, _)| *ts > horizon)
            .collect();
        kept.push((t.timestamp, t.amount));
        recent.clear();
        for r in &kept {
            recent.add(*r);
        }
        // How unusual the amount is (0 at the average, 1 at five times it or
        // more), and how bursty the user is (1 at five payments in 10 minutes).
        let unusual = ((t.amount / average.max(1.0) - 1.0) / 4.0).clamp(0.0, 1.0);
        let burst = (kept.len() as f64 / 5.0).min(1.0);
        let score = 0.6 * unusual + 0.4 * burst;
        Ok((score > 0.8).then_some(score))
    }
}

impl StatefulDoFn for RiskScorer {
    type Key = String;
    type Value = Transaction;
    type Out = String;

    /// Buffers the payment; a timer at its timestamp scores it once the
    /// watermark passes, so payments are scored in event-time order whatever
    /// order they arrive in.
    fn process(
        &mut self,
        _user: &String,
        t: &Transaction,
        ctx: &mut StateContext<'_, String, String>,
    ) -> UserResult {
        ctx.ordered_list_state::<Transaction>("pending")?
            .add(t.timestamp, t.clone());
        ctx.set_event_timer(&format!("score@{}", t.timestamp.as_micros()), t.timestamp)
    }

    fn on_timer(
        &mut self,
        user: &String,
        timer: &str,
        ctx: &mut StateContext<'_, String, String>,
    ) -> UserResult {
        let at = ctx.timestamp();
        if timer == IDLE {
            ctx.value_state::<Profile>("profile")?.clear();
            ctx.bag_state::<(Timestamp, f64)>("recent")?.clear();
            ctx.output(format!("IDLE {user} profile cleared at {}", utc(at)));
            return Ok(());
        }
        let next = at + beam_core::Duration::from_micros(1);
        let mut pending = ctx.ordered_list_state::<Transaction>("pending")?;
        let due = pending.read_range(Timestamp::MIN, next);
        pending.clear_range(Timestamp::MIN, next);
        let mut alerts = Vec::new();
        for (_, t) in &due {
            if let Some(score) = Self::score(t, ctx)? {
                alerts.push(format!(
                    "ALERT {user} {} {} amount {:.2} score {score:.2}",
                    utc(t.timestamp),
                    t.id,
                    t.amount
                ));
            }
        }
        for a in alerts {
            ctx.output(a);
        }
        ctx.set_event_timer(IDLE, at + minutes(60))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let alerts = read_lines(&p, args.io.input.as_deref(), examples::SAMPLE_TRANSACTIONS)?
            .apply("Parse", ParDo::of(ParseTransactions))?
            .apply(
                "ByUser",
                Map::new(|t: &Transaction| (t.user.clone(), t.clone())),
            )?
            .apply("Score", StatefulParDo::of(RiskScorer))?;
        write_lines(&alerts, args.io.output.as_deref())?;
        p.run()?;
        Ok(())
    })
}
