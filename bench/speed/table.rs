//! The figures as they are printed: a line each as measured, then the table.

use std::time::Duration;

#[derive(Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<[String; 4]>,
}

impl Table {
    pub(crate) fn row(&mut self, figure: &str, measured: String, target: &str, pass: bool) {
        let verdict = if pass { "PASS" } else { "MISS" };
        println!("{verdict}  {figure}: {measured} (target {target})");
        self.rows.push([
            figure.to_string(),
            measured,
            target.to_string(),
            verdict.to_string(),
        ]);
    }

    pub(crate) fn print(&self) {
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        println!();
        for r in &self.rows {
            println!("{:<w0$}  {:<w1$}  {:<w2$}  {}", r[0], r[1], r[2], r[3]);
        }
        let missed = self.rows.iter().filter(|r| r[3] == "MISS").count();
        println!(
            "\n{} of {} targets met",
            self.rows.len() - missed,
            self.rows.len()
        );
    }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub(crate) fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

pub(crate) fn median_f(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
