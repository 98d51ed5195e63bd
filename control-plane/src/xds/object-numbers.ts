/**
 * A number per shared immutable object (the cache's resources and resource sets), for
 * keys that must say exactly which objects a response was made of: a number is a tenth
 * of the name and version it stands for, and never collides. Weak: a number goes with
 * its object.
 */
const numbers = new WeakMap<object, number>();
let next = 0;

export function objectNumber(object: object): number {
  let number = numbers.get(object);
  if (number === undefined) {
    number = ++next;
    numbers.set(object, number);
  }
  return number;
}
