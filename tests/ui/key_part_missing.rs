use layercache::cached;

struct Filter {
    min: u32,
}

#[cached]
async fn search(filter: Filter) -> Vec<u32> {
    vec![filter.min]
}

fn main() {}
