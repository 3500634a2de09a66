use layercache::cached;

struct Report {
    rows: Vec<u32>,
}

#[cached]
async fn report(day: u32) -> Report {
    Report { rows: vec![day] }
}

fn main() {}
