//! The cache's figures through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): whatever recorder the program installed (Prometheus, StatsD, OpenTelemetry…)
//! receives them.
//!
//! - Every [`Stats`] field, labelled `namespace`: counters as `layercache_<field>_total`, gauges
//!   as `layercache_<field>` (see [`StatField`](crate::StatField)). The hit path only bumps the
//!   cache's own striped counters, as without the feature; what changed since the last export is
//!   added to the recorder by [`Cache::publish_metrics`], which a background task calls every
//!   second (see `CacheBuilder::metrics_interval`) and an exporter may call before it renders.
//! - `layercache_load_duration_seconds`, a histogram of loader calls labelled `namespace`,
//!   `function` (the `#[cached]` function's path, or what
//!   [`EntryOptions::function`](crate::EntryOptions::function) names) and `outcome` (`ok`,
//!   `error`, `timeout`). Its count is the number of loads per function.
//!
//! Labels are bounded: namespaces and function paths, never keys.

// Wired into the cache (publishing, load timing) once the read path is reshaped on main.
#![allow(dead_code, unused_imports)]

use crate::stats::Stats;

/// What a loader call ended in, as the `outcome` label of the load-duration histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadOutcome {
    /// The loader returned a value.
    Ok,
    /// The loader returned an error or panicked.
    Error,
    /// The loader was cut off by `timeout`.
    Timeout,
}

impl LoadOutcome {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            LoadOutcome::Ok => "ok",
            LoadOutcome::Error => "error",
            LoadOutcome::Timeout => "timeout",
        }
    }
}

/// Function label of loads whose options name no function (hand-written `get_or_load` calls).
pub(crate) const UNNAMED_FUNCTION: &str = "unnamed";

#[cfg(feature = "metrics")]
pub(crate) use enabled::MetricsState;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::MetricsState;

#[cfg(feature = "metrics")]
mod enabled {
    use std::time::Duration;

    use metrics::SharedString;
    use parking_lot::Mutex;

    use super::{LoadOutcome, Stats, UNNAMED_FUNCTION};
    use crate::stats::StatKind;

    /// Name of the load-duration histogram.
    const LOAD_DURATION: &str = "layercache_load_duration_seconds";

    /// One cache's link to the recorder: its namespace label and what it exported last, so each
    /// export adds only the change (two caches of one namespace then add up, not overwrite).
    #[derive(Debug)]
    pub(crate) struct MetricsState {
        namespace: SharedString,
        exported: Mutex<Stats>,
    }

    impl MetricsState {
        pub(crate) fn new(namespace: &str) -> Self {
            MetricsState {
                namespace: SharedString::from(namespace.to_owned()),
                exported: Mutex::new(Stats::default()),
            }
        }

        /// Adds to the current recorder what changed between the last export and `now`.
        pub(crate) fn publish(&self, now: &Stats) {
            let mut exported = self.exported.lock();
            for (field, before) in now.entries().into_iter().zip(exported.entries()) {
                let labels = [("namespace", self.namespace.clone())];
                match field.kind {
                    StatKind::Counter => {
                        let added = field.value.saturating_sub(before.value);
                        if added > 0 {
                            metrics::counter!(field.metric, &labels).increment(added);
                        }
                    }
                    StatKind::Gauge if field.value != before.value => {
                        // Signed change, so two caches of one namespace add up.
                        let change = field.value as f64 - before.value as f64;
                        metrics::gauge!(field.metric, &labels).increment(change);
                    }
                    StatKind::Gauge => {}
                }
            }
            *exported = *now;
        }

        /// Records one loader call in the load-duration histogram.
        pub(crate) fn record_load(
            &self,
            function: Option<&'static str>,
            outcome: LoadOutcome,
            took: Duration,
        ) {
            let labels = [
                ("namespace", self.namespace.clone()),
                (
                    "function",
                    SharedString::from(function.unwrap_or(UNNAMED_FUNCTION)),
                ),
                ("outcome", SharedString::from(outcome.label())),
            ];
            metrics::histogram!(LOAD_DURATION, &labels).record(took.as_secs_f64());
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use std::time::Duration;

    use super::{LoadOutcome, Stats};

    /// Without the `metrics` feature: nothing to export to.
    #[derive(Debug)]
    pub(crate) struct MetricsState;

    impl MetricsState {
        pub(crate) fn new(_namespace: &str) -> Self {
            MetricsState
        }

        pub(crate) fn publish(&self, _now: &Stats) {}

        pub(crate) fn record_load(
            &self,
            _function: Option<&'static str>,
            _outcome: LoadOutcome,
            _took: Duration,
        ) {
        }
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    /// Every (metric name, labels, value) the recorder holds, labels as `k=v` sorted.
    fn recorded(recorder: &DebuggingRecorder) -> Vec<(String, Vec<String>, DebugValue)> {
        let mut all: Vec<_> = recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (_, key) = key.into_parts();
                let mut labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                labels.sort();
                (key.name().to_owned(), labels, value)
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn value_of<'a>(
        all: &'a [(String, Vec<String>, DebugValue)],
        metric: &str,
    ) -> Option<&'a DebugValue> {
        all.iter()
            .find(|(name, _, _)| name == metric)
            .map(|(_, _, v)| v)
    }

    #[test]
    fn publish_adds_only_what_changed_and_labels_the_namespace() {
        let recorder = DebuggingRecorder::new();
        let state = MetricsState::new("shop");
        metrics::with_local_recorder(&recorder, || {
            let mut stats = Stats {
                l1_hits: 5,
                breaker_open: 1,
                ..Stats::default()
            };
            state.publish(&stats);
            stats.l1_hits = 8;
            stats.breaker_open = 0;
            state.publish(&stats);
        });
        let all = recorded(&recorder);
        assert_eq!(
            value_of(&all, "layercache_l1_hits_total"),
            Some(&DebugValue::Counter(8)),
            "{all:?}"
        );
        // The gauge went up to 1, then back to 0.
        let gauge = value_of(&all, "layercache_breaker_open");
        assert_eq!(gauge, Some(&DebugValue::Gauge(0.0.into())), "{all:?}");
        let (_, labels, _) = all
            .iter()
            .find(|(n, _, _)| n == "layercache_l1_hits_total")
            .expect("exported");
        assert_eq!(labels, &["namespace=shop"]);
        // Counters that never moved are not exported at all (no series of zeros per field).
        assert_eq!(value_of(&all, "layercache_misses_total"), None, "{all:?}");
    }

    #[test]
    fn two_caches_of_one_namespace_add_up() {
        let recorder = DebuggingRecorder::new();
        let (a, b) = (MetricsState::new("shop"), MetricsState::new("shop"));
        metrics::with_local_recorder(&recorder, || {
            let stats = |l1_hits, pending_invalidations| Stats {
                l1_hits,
                pending_invalidations,
                ..Stats::default()
            };
            a.publish(&stats(3, 2));
            b.publish(&stats(4, 1));
            a.publish(&stats(3, 0));
        });
        let all = recorded(&recorder);
        assert_eq!(
            value_of(&all, "layercache_l1_hits_total"),
            Some(&DebugValue::Counter(7))
        );
        assert_eq!(
            value_of(&all, "layercache_pending_invalidations"),
            Some(&DebugValue::Gauge(1.0.into()))
        );
    }

    #[test]
    fn loads_are_recorded_per_function_and_outcome() {
        let recorder = DebuggingRecorder::new();
        let state = MetricsState::new("shop");
        metrics::with_local_recorder(&recorder, || {
            state.record_load(
                Some("shop::get_product"),
                LoadOutcome::Ok,
                Duration::from_millis(3),
            );
            state.record_load(None, LoadOutcome::Timeout, Duration::from_millis(5));
        });
        let all = recorded(&recorder);
        let series: Vec<&Vec<String>> = all
            .iter()
            .filter(|(n, _, _)| n == "layercache_load_duration_seconds")
            .map(|(_, labels, _)| labels)
            .collect();
        assert_eq!(series.len(), 2, "{all:?}");
        assert!(series.contains(&&vec![
            "function=shop::get_product".to_owned(),
            "namespace=shop".to_owned(),
            "outcome=ok".to_owned()
        ]));
        assert!(series.contains(&&vec![
            "function=unnamed".to_owned(),
            "namespace=shop".to_owned(),
            "outcome=timeout".to_owned()
        ]));
    }
}
