use layercache::cached;

#[cached]
async fn parse<T: std::str::FromStr>(text: String) -> Option<T> {
    text.parse().ok()
}

fn main() {}
