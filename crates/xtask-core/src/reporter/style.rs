//! ANSI styling, applied only when colour is on.

#[derive(Clone, Copy)]
pub struct Style {
    pub enabled: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("1;31", t)
    }
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn cyan(&self, t: &str) -> String {
        self.paint("1;36", t)
    }
    /// A stable colour per job, for prefixes.
    pub fn job(&self, id: usize, t: &str) -> String {
        const CODES: [&str; 6] = ["36", "35", "34", "32", "33", "96"];
        self.paint(CODES[id % CODES.len()], t)
    }
}
