//! A plain-text table with boxed borders, as `etcdctl -w table` prints them.

use std::fmt::Write as _;

/// Rows of cells under a header, rendered with every column as wide as its widest cell.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names (upper-cased as printed).
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_uppercase()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty, extra cells are dropped.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as lines of text, ending with a newline.
    pub(crate) fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                std::iter::once(&self.header[c])
                    .chain(self.rows.iter().map(|r| &r[c]))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let rule = {
            let mut s = String::from("+");
            for w in &widths {
                s.push_str(&"-".repeat(w + 2));
                s.push('+');
            }
            s
        };
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (cell, w) in cells.iter().zip(&widths) {
                let pad = w - cell.chars().count();
                let _ = write!(s, " {cell}{} |", " ".repeat(pad));
            }
            s
        };
        let mut out = String::new();
        for l in [rule.clone(), line(&self.header), rule.clone()] {
            out.push_str(&l);
            out.push('\n');
        }
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out.push_str(&rule);
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(&["id", "role"]);
        t.row(vec!["1".into(), "leader".into()]);
        t.row(vec!["12".into()]);
        assert_eq!(
            t.render(),
            "+----+--------+\n\
             | ID | ROLE   |\n\
             +----+--------+\n\
             | 1  | leader |\n\
             | 12 |        |\n\
             +----+--------+\n"
        );
    }

    #[test]
    fn wide_characters_count_once() {
        let mut t = Table::new(&["k"]);
        t.row(vec!["é".into()]);
        assert!(t.render().contains("| é |"), "{}", t.render());
    }
}
