//! Optimal rectangular linear assignment.
//!
//! The tracker solves one small assignment problem per gating cluster, and the
//! GOSPA metric one per evaluation time, so the solver keeps its scratch
//! buffers between calls instead of allocating per problem.
//!
//! The algorithm is the shortest augmenting path method of Jonker and
//! Volgenant as generalised to rectangular problems by Crouse ("On
//! implementing 2D rectangular assignment algorithms", IEEE TAES 2016), the
//! same one `scipy.optimize.linear_sum_assignment` uses: it is exact, runs in
//! O(n² m) for n ≤ m, and needs no cost scaling or integer costs.

use thiserror::Error;

/// Why an assignment problem could not be solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AssignError {
    /// `costs.len()` is not `rows * cols`.
    #[error("cost matrix has {len} entries, expected {rows} x {cols}")]
    ShapeMismatch {
        /// Entries given.
        len: usize,
        /// Rows declared.
        rows: usize,
        /// Columns declared.
        cols: usize,
    },
    /// A cost is NaN or infinite. Callers express "forbidden" with a large
    /// finite cost (or a dummy column) so that every problem stays feasible.
    #[error("cost at row {row}, column {col} is not finite")]
    NonFiniteCost {
        /// Row of the offending cost.
        row: usize,
        /// Column of the offending cost.
        col: usize,
    },
}

/// A reusable solver for rectangular minimum-cost assignment problems.
///
/// For a `rows x cols` cost matrix it finds the set of `min(rows, cols)`
/// row-column pairs, each row and column used at most once, with the least
/// total cost.
#[derive(Debug, Default, Clone)]
pub struct AssignmentSolver {
    /// The problem in the orientation the algorithm needs (rows <= cols).
    oriented: Vec<f64>,
    row_potential: Vec<f64>,
    col_potential: Vec<f64>,
    shortest_path: Vec<f64>,
    path: Vec<usize>,
    col_for_row: Vec<usize>,
    row_for_col: Vec<usize>,
    row_visited: Vec<bool>,
    col_visited: Vec<bool>,
    remaining: Vec<usize>,
    /// The answer in the caller's orientation.
    result: Vec<Option<usize>>,
}

/// Marks an unassigned row or column in the scratch vectors.
const NONE: usize = usize::MAX;

impl AssignmentSolver {
    /// A solver with empty scratch buffers; they grow to the largest problem
    /// seen and are then reused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Solves the problem given by `costs`, row-major with `rows * cols`
    /// entries, all finite.
    ///
    /// Returns, for each row, the column assigned to it, or `None` when the
    /// row is left over because there are fewer columns than rows.
    pub fn solve(
        &mut self,
        costs: &[f64],
        rows: usize,
        cols: usize,
    ) -> Result<&[Option<usize>], AssignError> {
        if costs.len() != rows.saturating_mul(cols) {
            return Err(AssignError::ShapeMismatch {
                len: costs.len(),
                rows,
                cols,
            });
        }
        if let Some(at) = costs.iter().position(|c| !c.is_finite()) {
            return Err(AssignError::NonFiniteCost {
                row: at / cols,
                col: at % cols,
            });
        }
        self.result.clear();
        self.result.resize(rows, None);
        if rows == 0 || cols == 0 {
            return Ok(&self.result);
        }

        // The augmenting-path loop assigns every row, so it needs rows <= cols;
        // a tall problem is solved as its transpose.
        let transposed = rows > cols;
        let (n, m) = if transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        self.oriented.clear();
        if transposed {
            self.oriented
                .extend((0..n * m).map(|k| costs[(k % m) * cols + k / m]));
        } else {
            self.oriented.extend_from_slice(costs);
        }

        self.reset_scratch(n, m);
        for current_row in 0..n {
            self.augment_from(current_row, n, m);
        }

        for (row, &col) in self.col_for_row.iter().enumerate().take(n) {
            if transposed {
                self.result[col] = Some(row);
            } else {
                self.result[row] = Some(col);
            }
        }
        Ok(&self.result)
    }

    fn reset_scratch(&mut self, n: usize, m: usize) {
        fn reset<T: Clone>(v: &mut Vec<T>, len: usize, value: T) {
            v.clear();
            v.resize(len, value);
        }
        reset(&mut self.row_potential, n, 0.0);
        reset(&mut self.col_potential, m, 0.0);
        reset(&mut self.col_for_row, n, NONE);
        reset(&mut self.row_for_col, m, NONE);
        reset(&mut self.path, m, NONE);
        reset(&mut self.shortest_path, m, f64::INFINITY);
        reset(&mut self.row_visited, n, false);
        reset(&mut self.col_visited, m, false);
        reset(&mut self.remaining, m, 0);
    }

    /// Finds the shortest augmenting path from the unassigned `start` row
    /// (Dijkstra on reduced costs), then flips the assignment along it and
    /// updates the dual potentials so reduced costs stay non-negative.
    fn augment_from(&mut self, start: usize, n: usize, m: usize) {
        let costs = &self.oriented;
        let u = &mut self.row_potential;
        let v = &mut self.col_potential;
        let spc = &mut self.shortest_path;

        self.row_visited.fill(false);
        self.col_visited.fill(false);
        spc.fill(f64::INFINITY);
        // Columns not yet reached, kept in reverse so that ties resolve
        // towards low column indices as in scipy.
        for (slot, col) in self.remaining.iter_mut().zip((0..m).rev()) {
            *slot = col;
        }
        let mut unvisited = m;
        let mut min_value = 0.0;
        let mut row = start;
        let sink = loop {
            self.row_visited[row] = true;
            let mut lowest = f64::INFINITY;
            let mut lowest_at = 0;
            for (slot, &col) in self.remaining[..unvisited].iter().enumerate() {
                let reduced = min_value + costs[row * m + col] - u[row] - v[col];
                if reduced < spc[col] {
                    self.path[col] = row;
                    spc[col] = reduced;
                }
                if spc[col] < lowest || (spc[col] == lowest && self.row_for_col[col] == NONE) {
                    lowest = spc[col];
                    lowest_at = slot;
                }
            }
            // With finite costs and rows <= cols a free column is always
            // reachable, so `lowest` is finite here.
            min_value = lowest;
            let col = self.remaining[lowest_at];
            self.col_visited[col] = true;
            unvisited -= 1;
            self.remaining[lowest_at] = self.remaining[unvisited];
            match self.row_for_col[col] {
                NONE => break col,
                next => row = next,
            }
        };

        u[start] += min_value;
        for r in 0..n {
            if self.row_visited[r] && r != start {
                u[r] += min_value - spc[self.col_for_row[r]];
            }
        }
        for c in 0..m {
            if self.col_visited[c] {
                v[c] -= min_value - spc[c];
            }
        }

        let mut col = sink;
        loop {
            let row = self.path[col];
            self.row_for_col[col] = row;
            let previous = std::mem::replace(&mut self.col_for_row[row], col);
            if row == start {
                break;
            }
            col = previous;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Exhaustive minimum over all injective maps of the smaller side.
    fn brute_force(costs: &[f64], rows: usize, cols: usize) -> f64 {
        fn go(
            costs: &[f64],
            rows: usize,
            cols: usize,
            row: usize,
            used: &mut Vec<bool>,
            picked: usize,
        ) -> f64 {
            let need = rows.min(cols);
            if picked == need {
                return 0.0;
            }
            if row == rows {
                return f64::INFINITY;
            }
            // Skipping a row is allowed only while enough rows remain.
            let mut best = if rows - row > need - picked {
                go(costs, rows, cols, row + 1, used, picked)
            } else {
                f64::INFINITY
            };
            for col in 0..cols {
                if !used[col] {
                    used[col] = true;
                    let c =
                        costs[row * cols + col] + go(costs, rows, cols, row + 1, used, picked + 1);
                    used[col] = false;
                    best = best.min(c);
                }
            }
            best
        }
        go(costs, rows, cols, 0, &mut vec![false; cols], 0)
    }

    fn total(costs: &[f64], cols: usize, assignment: &[Option<usize>]) -> f64 {
        assignment
            .iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| costs[r * cols + c]))
            .sum()
    }

    #[test]
    fn known_square_problem() {
        // scipy.optimize.linear_sum_assignment's documented example.
        let costs = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        let mut solver = AssignmentSolver::new();
        let got = solver.solve(&costs, 3, 3).unwrap();
        assert_eq!(got, &[Some(1), Some(0), Some(2)]);
        assert_eq!(total(&costs, 3, got), 5.0);
    }

    #[test]
    fn tall_problem_leaves_the_costliest_rows_out() {
        let costs = [10.0, 1.0, 10.0, 10.0, 0.5, 10.0];
        let mut solver = AssignmentSolver::new();
        let got = solver.solve(&costs, 3, 2).unwrap();
        assert_eq!(got, &[Some(1), None, Some(0)]);
    }

    #[test]
    fn empty_and_bad_inputs() {
        let mut solver = AssignmentSolver::new();
        assert_eq!(solver.solve(&[], 0, 4).unwrap(), &[] as &[Option<usize>]);
        assert_eq!(solver.solve(&[], 2, 0).unwrap(), &[None, None]);
        assert_eq!(
            solver.solve(&[1.0; 5], 2, 3),
            Err(AssignError::ShapeMismatch {
                len: 5,
                rows: 2,
                cols: 3
            })
        );
        assert_eq!(
            solver.solve(&[1.0, f64::NAN, 0.0, 2.0], 2, 2),
            Err(AssignError::NonFiniteCost { row: 0, col: 1 })
        );
    }

    proptest! {
        #[test]
        fn matches_brute_force(
            rows in 1usize..6,
            cols in 1usize..6,
            seed in proptest::collection::vec(-50.0f64..100.0, 36),
        ) {
            let costs = &seed[..rows * cols];
            let mut solver = AssignmentSolver::new();
            let got = solver.solve(costs, rows, cols).unwrap().to_vec();
            // Every column used at most once, min(rows, cols) pairs.
            let mut seen = vec![false; cols];
            for c in got.iter().flatten() {
                prop_assert!(!seen[*c]);
                seen[*c] = true;
            }
            prop_assert_eq!(got.iter().flatten().count(), rows.min(cols));
            let expected = brute_force(costs, rows, cols);
            prop_assert!((total(costs, cols, &got) - expected).abs() < 1e-9);
        }
    }
}
