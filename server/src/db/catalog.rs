//! The catalog: the products a new database is seeded with, and reading them back.

use checkout_api::Product;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{
    Db,
    sql::{COUNT_PRODUCTS, INSERT_PRODUCT, SELECT_PRODUCTS, SELECT_PRODUCTS_BY_IDS},
};

/// The catalog a new database starts with: (name, description, price in cents).
const CATALOG: [(&str, &str, i64); 6] = [
    (
        "Espresso beans, 1 kg",
        "Dark roast, chocolate and cherry",
        2400,
    ),
    ("Pour-over dripper", "Ceramic, fits most mugs", 3200),
    ("Gooseneck kettle", "1 litre, with thermometer", 5900),
    (
        "Burr grinder",
        "40 steps from espresso to French press",
        12900,
    ),
    ("Paper filters", "Pack of 100, unbleached", 650),
    ("Tasting notebook", "Log your brews, 120 pages", 1200),
];

impl Db {
    pub(super) async fn seed(&self, stock: i64) -> Result<(), sqlx::Error> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let count: i64 = self
                .run(
                    &COUNT_PRODUCTS,
                    sqlx::query_scalar(self.sql(&COUNT_PRODUCTS)).fetch_one(&mut *tx),
                )
                .await?;
            if count == 0 {
                for (id, (name, description, price)) in (1_i64..).zip(CATALOG) {
                    let query = sqlx::query(self.sql(&INSERT_PRODUCT))
                        .bind(id)
                        .bind(name)
                        .bind(description)
                        .bind(price)
                        .bind(stock);
                    self.run(&INSERT_PRODUCT, query.execute(&mut *tx)).await?;
                }
            }
            tx.commit().await
        })
    }

    /// The whole catalog, by id.
    pub async fn products(&self) -> Result<Vec<Product>, sqlx::Error> {
        with_pool!(self, |pool| {
            let query = sqlx::query(self.sql(&SELECT_PRODUCTS));
            let rows = self.run(&SELECT_PRODUCTS, query.fetch_all(pool)).await?;
            rows.iter().map(product).collect()
        })
    }

    /// The products with these ids; ids not in the catalog are simply absent.
    pub async fn products_by_ids(&self, ids: &[i64]) -> Result<Vec<Product>, sqlx::Error> {
        let ids = serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        with_pool!(self, |pool| {
            let query = sqlx::query(self.sql(&SELECT_PRODUCTS_BY_IDS)).bind(&ids);
            let rows = self
                .run(&SELECT_PRODUCTS_BY_IDS, query.fetch_all(pool))
                .await?;
            rows.iter().map(product).collect()
        })
    }
}

/// A product from a row with its columns, in either database.
fn product<R>(row: &R) -> Result<Product, sqlx::Error>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Product {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        price_cents: row.try_get("price_cents")?,
        stock: row.try_get("stock")?,
    })
}
