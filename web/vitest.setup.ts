// @angular/forms' classes are partially compiled; outside an Angular build they need the JIT
// compiler loaded once.
import '@angular/compiler';
