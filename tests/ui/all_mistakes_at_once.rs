use layercache::cached;

// Every mistake is reported in one compile, each at its own token.
#[cached(key = "user:<uid>", ttl = "5 mn", tll = "1m", codec = "yaml", l2)]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {}
