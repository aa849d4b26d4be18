#include "CTestSupport.h"
int practiced_test_placeholder(void){return 0;}
