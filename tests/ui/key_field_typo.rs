use layercache::cached;

pub struct Query {
    pub customer_id: u64,
}

#[cached(key = "orders:<q.custmer_id>")]
async fn orders(q: &Query) -> u64 {
    q.customer_id
}

fn main() {}
