//! Chart requests: each run's metric as a [`Series`] with its min/max pyramid (the window's),
//! kept in memory once read and kept current by the follower, and decimated for the requested
//! width to at most two points per pixel column.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kiln_core::Project;
use kiln_core::series::Series;
use kiln_core::tracking::{RunId, TailPoint};
use serde::Serialize;

/// Most points kept in memory across a project's cached series (about 32 bytes each with the
/// pyramid); the least recently charted series go first.
const MAX_CACHED_POINTS: usize = 16_000_000;

/// One run's decimated line.
#[derive(Debug, Serialize)]
pub struct ChartLine {
    pub run: RunId,
    /// How many points the run has logged for the key.
    pub total: usize,
    /// In single precision: seven significant digits are far finer than a pixel, and the
    /// answer is half as long (the metric's values themselves stay exact in the project).
    pub points: Vec<[f32; 2]>,
}

/// A chart: one line per run that logged the key, over one shared x range.
#[derive(Debug, Serialize)]
pub struct Chart {
    pub key: String,
    pub width: usize,
    /// The x range drawn, when any run has a point.
    pub view: Option<(f64, f64)>,
    pub lines: Vec<ChartLine>,
}

/// Runs a function on a read-only handle of the project.
pub type Read<'a> =
    dyn Fn(&mut dyn FnMut(&Project) -> kiln_core::Result<()>) -> kiln_core::Result<()> + Sync + 'a;

struct Entry {
    series: Arc<Mutex<Series>>,
    /// The newest committed point the series holds: the follower adds only later ones.
    through: i64,
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(RunId, String), Entry>,
    /// The newest point the follower has handed over.
    cursor: i64,
    points: usize,
    clock: u64,
}

/// The series of one project that charts have asked for.
#[derive(Default)]
pub struct ChartCache {
    inner: Mutex<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ChartCache {
    /// Where the follower starts: points up to `cursor` are in the file already.
    pub(crate) fn start_at(&self, cursor: i64) {
        lock(&self.inner).cursor = cursor;
    }

    /// Adds newly committed points to the series that are cached (the follower's call).
    pub(crate) fn extend(&self, points: &[TailPoint]) {
        let mut inner = lock(&self.inner);
        if let Some(last) = points.last() {
            inner.cursor = inner.cursor.max(last.seq);
        }
        if inner.entries.is_empty() {
            // Nobody has charted anything: no key to look up for every point.
            return;
        }
        let mut added = 0;
        for p in points {
            if let Some(entry) = inner.entries.get(&(p.run, p.key.clone()))
                && p.seq > entry.through
            {
                lock(&entry.series).push(p.step as f64, p.value);
                added += 1;
            }
        }
        inner.points += added;
    }

    /// The chart of `key` over `runs` for `width` pixel columns, over `view` or the runs'
    /// whole range. Series not cached yet are read with `read`, on up to `threads` threads.
    pub fn chart(
        &self,
        read: &Read<'_>,
        key: &str,
        runs: &[RunId],
        width: usize,
        view: Option<(f64, f64)>,
    ) -> kiln_core::Result<Chart> {
        let series = self.series(read, key, runs)?;
        let mut lines = Vec::with_capacity(series.len());
        let mut guards: Vec<(RunId, MutexGuard<'_, Series>)> =
            series.iter().map(|(run, s)| (*run, lock(s))).collect();
        let view = view.or_else(|| {
            guards
                .iter()
                .filter_map(|(_, s)| s.x_range())
                .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
        });
        for (run, s) in &mut guards {
            if s.is_empty() {
                continue;
            }
            let total = s.len();
            let points = match view {
                // A single step: nothing to decimate.
                Some((x0, x1)) if x1 > x0 => s.decimated((x0, x1), width),
                _ => s.points().collect(),
            };
            let points = points
                .into_iter()
                .map(|[x, y]| [x as f32, y as f32])
                .collect();
            lines.push(ChartLine {
                run: *run,
                total,
                points,
            });
        }
        Ok(Chart {
            key: key.to_owned(),
            width,
            view,
            lines,
        })
    }

    /// The cached series of `key` for `runs`, reading those not cached yet.
    fn series(
        &self,
        read: &Read<'_>,
        key: &str,
        runs: &[RunId],
    ) -> kiln_core::Result<Vec<(RunId, Arc<Mutex<Series>>)>> {
        let missing: Vec<RunId> = {
            let mut inner = lock(&self.inner);
            inner.clock += 1;
            let clock = inner.clock;
            runs.iter()
                .copied()
                .filter(|run| match inner.entries.get_mut(&(*run, key.to_owned())) {
                    Some(entry) => {
                        entry.used = clock;
                        false
                    }
                    None => true,
                })
                .collect()
        };
        if !missing.is_empty() {
            let threads = std::thread::available_parallelism()
                .map_or(1, usize::from)
                .clamp(1, 4)
                .min(missing.len());
            let per_thread = missing.len().div_ceil(threads);
            let loaded: Vec<kiln_core::Result<Vec<(RunId, Series, i64)>>> =
                std::thread::scope(|scope| {
                    let handles: Vec<_> = missing
                        .chunks(per_thread)
                        .map(|chunk| scope.spawn(move || load(read, key, chunk)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(kiln_core::Error::Internal(
                                    "reading a chart's series failed".into(),
                                ))
                            })
                        })
                        .collect()
                });
            for chunk in loaded {
                for (run, series, through) in chunk? {
                    // A run without the key is read again next time: it may log it yet.
                    if !series.is_empty() {
                        self.insert(read, key, run, series, through)?;
                    }
                }
            }
        }
        let mut inner = lock(&self.inner);
        let out = runs
            .iter()
            .filter_map(|run| {
                inner
                    .entries
                    .get(&(*run, key.to_owned()))
                    .map(|e| (*run, e.series.clone()))
            })
            .collect();
        evict(&mut inner, runs, key);
        Ok(out)
    }

    /// Caches a series read through `through`, first adding what the follower handed over
    /// meanwhile (points it could not add to a series not yet cached).
    fn insert(
        &self,
        read: &Read<'_>,
        key: &str,
        run: RunId,
        mut series: Series,
        mut through: i64,
    ) -> kiln_core::Result<()> {
        loop {
            let cursor = {
                let mut inner = lock(&self.inner);
                if inner.entries.contains_key(&(run, key.to_owned())) {
                    // Another request cached it meanwhile; that one is kept current.
                    return Ok(());
                }
                if inner.cursor <= through {
                    inner.points += series.len();
                    let clock = inner.clock;
                    inner.entries.insert(
                        (run, key.to_owned()),
                        Entry {
                            series: Arc::new(Mutex::new(series)),
                            through,
                            used: clock,
                        },
                    );
                    return Ok(());
                }
                inner.cursor
            };
            read(&mut |p: &Project| {
                while through < cursor {
                    let points = p.metric_tail(through, 10_000)?;
                    let Some(last) = points.last() else { break };
                    for q in points.iter().filter(|q| q.seq <= cursor) {
                        if q.run == run && q.key == key {
                            series.push(q.step as f64, q.value);
                        }
                    }
                    through = last.seq.min(cursor);
                }
                through = through.max(cursor);
                Ok(())
            })?;
        }
    }
}

impl ChartCache {
    /// Forgets every series: after the follower missed points, they are read anew.
    pub(crate) fn forget(&self) {
        let mut inner = lock(&self.inner);
        inner.entries.clear();
        inner.points = 0;
    }
}

/// Reads the series of `key` of each run in `runs`, each with the newest committed point it
/// covers (read in the same transaction).
fn load(
    read: &Read<'_>,
    key: &str,
    runs: &[RunId],
) -> kiln_core::Result<Vec<(RunId, Series, i64)>> {
    let mut out = Vec::with_capacity(runs.len());
    read(&mut |p: &Project| {
        for &run in runs {
            let (points, through) =
                p.consistently(|p| Ok((p.metric_values(run, key)?, p.metric_tail_end()?)))?;
            let series = Series::from_points(run.to_string(), points);
            out.push((run, series, through));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Drops the least recently charted series until the cache holds at most
/// [`MAX_CACHED_POINTS`], never one of the chart just asked for.
fn evict(inner: &mut Inner, keep: &[RunId], key: &str) {
    if inner.points <= MAX_CACHED_POINTS {
        return;
    }
    let mut by_age: Vec<((RunId, String), u64)> = inner
        .entries
        .iter()
        .filter(|((run, k), _)| !(k == key && keep.contains(run)))
        .map(|(id, e)| (id.clone(), e.used))
        .collect();
    by_age.sort_by_key(|(_, used)| *used);
    for (id, _) in by_age {
        if inner.points <= MAX_CACHED_POINTS {
            break;
        }
        if let Some(entry) = inner.entries.remove(&id) {
            inner.points -= lock(&entry.series).len().min(inner.points);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::tracking::{MetricPoint, RunSpec};

    fn points(key: &str, steps: std::ops::Range<i64>) -> Vec<MetricPoint> {
        steps
            .map(|step| MetricPoint {
                key: key.into(),
                step,
                value: (step as f64 * 0.37).sin(),
                timestamp: step,
            })
            .collect()
    }

    /// A series cached while points keep coming holds each point once: those read with it,
    /// those the follower handed over before it was cached, and those after.
    #[test]
    fn a_cached_series_stays_whole_while_points_arrive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.kiln");
        let mut writer = Project::create(&path, "c").expect("create");
        let run = writer.start_run(&RunSpec::default()).expect("run");
        let other = writer.start_run(&RunSpec::default()).expect("run");
        writer
            .log_metrics(run, &points("loss", 0..1000))
            .expect("log");
        let reader = Project::open_read_only(&path).expect("reader");
        // A handle per call, as the server's pool lends them to its threads.
        let read = |f: &mut dyn FnMut(&Project) -> kiln_core::Result<()>| {
            f(&Project::open_read_only_unverified(&path)?)
        };
        let cache = ChartCache::default();
        cache.start_at(reader.metric_tail_end().expect("end"));

        // The follower hands over points before the series is cached: they are in the file
        // when it is read, and must not be added twice.
        writer
            .log_metrics(run, &points("loss", 1000..1500))
            .expect("log");
        writer
            .log_metrics(other, &points("loss", 0..10))
            .expect("log");
        let early = reader.metric_tail(0, 100_000).expect("tail");
        cache.extend(&early);
        let chart = cache
            .chart(&read, "loss", &[run], 100, None)
            .expect("chart");
        assert_eq!(chart.lines[0].total, 1500);

        // Later points reach the cached series through the follower only.
        let seen = early.last().expect("points").seq;
        writer
            .log_metrics(run, &points("loss", 1500..2000))
            .expect("log");
        cache.extend(&reader.metric_tail(seen, 100_000).expect("tail"));
        let chart = cache
            .chart(&read, "loss", &[run, other], 100, None)
            .expect("chart");
        assert_eq!(chart.lines[0].total, 2000);
        assert_eq!(chart.lines[1].total, 10);
        assert_eq!(chart.view, Some((0.0, 1999.0)));
        assert!(chart.lines[0].points.len() <= 2 * 100 + 2);

        // The follower handed over points that a series read later does not hold yet (it was
        // read from an older state): they are fetched before it is cached.
        let stale = ChartCache::default();
        stale.start_at(0);
        stale.extend(&reader.metric_tail(0, 100_000).expect("tail"));
        assert_eq!(
            stale
                .chart(&read, "loss", &[other], 10, None)
                .expect("chart")
                .lines[0]
                .total,
            10
        );
    }
}
