//! Work spread over the machine's cores: as many threads as there are cores, each taking the
//! next item as it finishes one (items cost unevenly: an operation's probes from a fraction of
//! a millisecond to several). A thread per item would cost its stack, its allocator heap and
//! a context switch on a machine with two cores.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` of every item, in the items' order, each thread given `least` items at the least
/// (below that a thread costs more than it saves: a case file takes microseconds).
pub fn map<T: Sync, U: Send>(items: &[T], least: usize, f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / least.max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                return done;
            };
            done.push((index, f(item)));
        }
    };
    let mut done: Vec<(usize, U)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut done = work();
        for helper in helpers {
            done.extend(
                helper
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        done
    });
    done.sort_unstable_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, u)| u).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_item_once_in_order() {
        let items: Vec<usize> = (0..1000).collect();
        let doubled = super::map(&items, 1, |n| {
            // Uneven costs, so that threads finish out of order.
            if n % 7 == 0 {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            n * 2
        });
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert!(super::map(&[] as &[usize], 1, |n| *n).is_empty());
        // Too few items for a second thread: all on this one, in order too.
        assert_eq!(super::map(&items[..20], 16, |n| *n), items[..20].to_vec());
    }
}
