//! The one-process strategy. (being written)
use crate::{Error, Exit, Mpm, MpmConfig, MpmInfo, RunContext};

#[derive(Debug, Default)]
pub struct Single;

impl Mpm for Single {
    fn info(&self) -> MpmInfo {
        MpmInfo {
            name: "single",
            threaded: false,
            forked: false,
        }
    }
    fn scoreboard_shape(&self, _cfg: &MpmConfig) -> (usize, usize) {
        (1, 1)
    }
    fn run(&mut self, _ctx: RunContext<'_>) -> Result<Exit, Error> {
        unimplemented!("being written")
    }
}
