use layercache::cached;

#[cached]
async fn area((w, h): (u32, u32), _: u8) -> u32 {
    w * h
}

fn main() {}
