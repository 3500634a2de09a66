use layercache::cached;

#[derive(Clone)]
struct Image {
    pixels: Vec<u8>,
}

// A weigher must not capture: it is kept as a `fn` for background refreshes.
#[cached(key = "image:<id>", weigh = |img| img.pixels.capacity() + id as usize)]
async fn image(id: u64) -> Image {
    Image { pixels: vec![0; id as usize] }
}

// It returns the heap bytes as a `usize`.
#[cached(key = "thumb:<id>", weigh = |img| img.pixels.len() as u64)]
async fn thumb(id: u64) -> Image {
    Image { pixels: vec![0; id as usize] }
}

fn main() {}
