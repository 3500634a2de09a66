fn main() {
    let name = "Home & Garden";
    let _unused = layercache::key!("category:<c>", c = name, extra = 1);
    let _typo = layercache::key!("category:<nme>", name = name);
    let _unclosed = layercache::key!("category:<c", c = name);
    let _no_template = layercache::key!(name);
}
