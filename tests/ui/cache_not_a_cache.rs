use layercache::cached;

struct Service {
    cache: String,
}

impl Service {
    #[cached(key = "n:<n>", cache = self.cache)]
    async fn get(&self, n: u32) -> u32 {
        n
    }
}

fn main() {}
