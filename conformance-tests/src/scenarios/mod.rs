//! The scenarios, one module per area. Each names the Beam test or document
//! section it mirrors.

pub mod basics;
pub mod batching;
pub mod boundaries;
pub mod combine;
pub mod combine_cases;
pub mod combiners;
pub mod common;
pub mod create_and_cogbk;
pub mod elementwise;
pub mod fanout;
pub mod flatten;
pub mod grouping;
pub mod join;
pub mod metrics_cases;
pub mod numbers;
pub mod pardo;
pub mod pardo_cases;
pub mod read_event_time;
pub mod reshuffle;
pub mod side_inputs;
pub mod state;
pub mod state_cases;
pub mod stream_counts;
pub mod stream_panes;
pub mod stream_side_inputs;
pub mod timer_streams;
pub mod timer_watermarks;
pub mod timers;
pub mod trigger_cases;
pub mod triggers;
pub mod views;
pub mod views_windowed;
pub mod windowing;
pub mod windowing_bounds;
pub mod windowing_cases;
