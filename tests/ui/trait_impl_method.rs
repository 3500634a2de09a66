use layercache::cached;

trait Repo {
    async fn get(&self, id: u64) -> u64;
}

struct Db;

// The generated key builder is an extra method, which a trait impl does not accept: put the
// cached logic in an inherent method and call it from the trait impl.
impl Repo for Db {
    #[cached]
    async fn get(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
