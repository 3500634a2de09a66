use layercache::cached;

struct Repo;

impl Repo {
    #[cached]
    async fn get(self, id: u64) -> u64 {
        id
    }

    #[cached]
    async fn get_mut(&mut self, id: u64) -> u64 {
        id
    }
}

fn main() {}
