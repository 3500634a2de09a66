use layercache::cached;

struct Repo;

struct Filter {
    min: u32,
}

impl Repo {
    #[cached(key = "n:<n>", ttl = "5m", refresh = "1m")]
    async fn get(&self, n: u32, filter: &Filter) -> u32 {
        n + filter.min
    }
}

fn main() {}
